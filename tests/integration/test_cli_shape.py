"""The command line stays thin: one error printer, typed context, defaults from the library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from openkms.admin.config import DEFAULT_ADMIN_ADDRESS, AdminConfig
from openkms.cli._common import HostContext, config_default, fail, host_context
from openkms.cli.main import cli
from openkms.core.codes import ResultCode
from openkms.errors import OpenKMSError, StateError
from openkms.host.config import HostConfig
from openkms.host.config_file import load_serve_config


def test_the_error_printer_shows_code_message_and_fix(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        fail(StateError("the store is locked", fix="Stop the other host."), exit_code=2)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"Error: {StateError.default_code.hex} the store is locked",
        "Fix: Stop the other host.",
    ]


def test_every_group_prints_errors_through_it(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["host", "--store", str(tmp_path / "h"), "dli"])
    assert result.exit_code == 1
    error = OpenKMSError(code=ResultCode.NO_PRODUCT_KEY)
    assert result.stderr.splitlines() == [
        f"Error: {error.code.hex} {error.message}",
        f"Fix: {error.fix}",
    ]


def test_publisher_is_the_group_and_vendor_a_hidden_alias(tmp_path: Path) -> None:
    runner = CliRunner()
    listing = runner.invoke(cli, ["--help"]).stdout
    assert "publisher" in listing
    assert "vendor" not in listing.split("Commands:")[1]
    assert runner.invoke(cli, ["publisher", "init", str(tmp_path / "a")]).exit_code == 0
    assert runner.invoke(cli, ["vendor", "init", str(tmp_path / "b")]).exit_code == 0
    assert (tmp_path / "a" / "trust.json").is_file()
    assert (tmp_path / "b" / "trust.json").is_file()


def test_the_host_group_hands_its_commands_a_typed_context(tmp_path: Path) -> None:
    seen: list[HostContext] = []

    @click.command()
    @click.pass_context
    def probe(ctx: click.Context) -> None:
        seen.append(host_context(ctx))

    host = cli.commands["host"]
    assert isinstance(host, click.Group)
    host.add_command(probe)
    try:
        args = ["host", "--store", str(tmp_path), "--machine-name", "kms1", "probe"]
        assert CliRunner().invoke(cli, args).exit_code == 0
    finally:
        host.commands.pop("probe")
    assert seen[0].machine_name == "kms1"
    assert seen[0].state.directory == tmp_path


def test_serve_takes_its_defaults_from_the_config_classes() -> None:
    # serve's flags have no defaults of their own (a flag given must be told from one not
    # given: flag > environment > file > default); the defaults are the loader's, taken from
    # the config classes.
    host = cli.commands["host"]
    assert isinstance(host, click.Group)
    flags = {p.name: p.default for p in host.commands["serve"].params}
    assert flags["max_connections"] is None or not isinstance(flags["max_connections"], int)
    defaults = load_serve_config(None, {}, {})
    assert defaults.value("limits.max_connections") == config_default(HostConfig, "max_connections")
    assert defaults.value("limits.idle_timeout") == config_default(HostConfig, "idle_timeout")
    assert defaults.value("admin.address") == DEFAULT_ADMIN_ADDRESS
    assert DEFAULT_ADMIN_ADDRESS.endswith(f":{config_default(AdminConfig, 'port')}")
    with pytest.raises(TypeError):
        config_default(HostConfig, "store_dir")


def test_without_the_host_extra_the_scripts_name_it() -> None:
    # click hidden from the interpreter, as in a client-only install
    code = "import sys; sys.modules['click'] = None; from openkms.cli._entry import slmgr; slmgr()"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 1
    assert "'click'" in run.stderr and "pip install 'openkms[host]'" in run.stderr
    assert "Traceback" not in run.stderr


def test_the_command_line_loads_neither_aiohttp_nor_asyncpg_until_a_command_needs_them() -> None:
    # Every process of a host (and `host serve` itself) imports the command line: the
    # publisher's service (aiohttp) and PostgreSQL driver (asyncpg) cost ~15 MiB resident.
    code = (
        "import sys, openkms.cli.main; "
        "print(sorted(m for m in ('aiohttp', 'asyncpg') if m in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"


def test_a_command_imports_only_its_own_group() -> None:
    """The groups are imported when used (cli/_lazy.py): the command line alone loads none of
    them, nor Babel's number data; running 'host' loads the host's group only."""
    groups = ("openkms.cli.publisher", "openkms.cli.client", "openkms.cli.host")
    groups += ("openkms.cli.demo", "openkms.doctor.cli", "babel.numbers")
    probe = f"print(sorted(m for m in {groups!r} if m in sys.modules))"
    code = f"import sys, openkms.cli.main; {probe}"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
    code = (
        "import sys, openkms.cli.main as m; from click.testing import CliRunner; "
        f"CliRunner().invoke(m.cli, ['host', '--help']); {probe}"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "['openkms.cli.host']"


def test_every_command_is_still_listed_and_reachable() -> None:
    names = ["client", "demo", "doctor", "host", "publisher", "slmgr", "vendor"]
    assert sorted(cli.commands) == names
    for name in names:
        assert cli.commands[name].name in (name, "publisher")  # vendor is publisher's alias
    assert "serve" in cli.commands["host"].commands  # type: ignore[attr-defined]
