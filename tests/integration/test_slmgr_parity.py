"""slmgr parity and help: /? and every --help without a store, /dlv all, /xpr and /upk on a host,
fixes that fit their errors, and 'count N of M' in 0xC004F038."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from openkms.cli.main import cli

from helpers import Site, host_process, openkms_cmd


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner(env={"OPENKMS_STORE": None}).invoke(cli, list(args))
    assert "Traceback" not in result.output + result.stderr, result.output + result.stderr
    return result.exit_code, result.stdout, result.stderr


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from command_paths(command, (*prefix, name))


@pytest.mark.parametrize("path", list(command_paths(cli)), ids=" ".join)
def test_every_help_works_without_a_store(path: tuple[str, ...]) -> None:
    code, out, err = invoke(*path, "--help")
    assert code == 0, err
    assert out.startswith("Usage: ")


def test_commands_that_need_a_store_say_how_to_give_it() -> None:
    for role in ("host", "client"):
        code, _, err = invoke(role, "dli")
        assert code == 1
        assert "no store directory was given" in err
        assert f"Fix: Give it before the command: 'openkms {role} --store DIR COMMAND'" in err


def test_slmgr_help_needs_no_store() -> None:
    for spelling in ("/?", "-?", "/help"):
        code, out, _ = invoke("slmgr", spelling)
        assert code == 0 and "/dlv [all]" in out and "/xpr" in out
    code, _, err = invoke("slmgr", "/dli")
    assert code == 1 and "Fix: Give it as 'slmgr --store DIR /OPTION'" in err
    code, _, err = invoke("slmgr", "--store", "/nonexistent", "/frobnicate")
    assert code == 1 and "Fix: Run 'slmgr /?' for the options." in err


def test_slmgr_on_a_host_dlv_all_xpr_and_upk(site: Site) -> None:
    store = str(site.host_dir)
    code, out, _ = invoke("slmgr", "--store", store, "/dlv", "all")
    assert code == 0 and "License Status: Licensed" in out
    code, out, _ = invoke("slmgr", "--store", store, "/xpr")
    assert code == 0
    assert "KMS host" in out and "Volume activation will expire" in out
    code, out, _ = invoke("slmgr", "--store", store, "/upk")
    assert code == 0 and out.strip() == "Uninstalled product key successfully."
    assert (site.host_dir / "host.key").exists()  # the identity stays
    assert not (site.host_dir / "certificate.json").exists()
    code, _, err = invoke("slmgr", "--store", store, "/dli")
    assert code == 1 and "0xC004F014" in err
    code, _, err = invoke("slmgr", "--store", store, "/upk")
    assert code == 1 and "0xC004F014" in err


def test_an_unknown_license_group_gets_a_fix_about_groups(tmp_path: Path) -> None:
    invoke("publisher", "init", str(tmp_path / "pub"))
    code, _, err = invoke("publisher", "issue-host-key", str(tmp_path / "pub"), "--group", "Z")
    assert code == 1
    assert "license group 'Z' is not in the catalog" in err
    assert "Fix: Give one of the catalog's license groups" in err


def test_count_too_low_says_count_n_of_m(site: Site, tmp_path: Path) -> None:
    store, trust = str(tmp_path / "client"), str(tmp_path / "trust.json")
    Path(trust).write_bytes(site.publisher.trust().to_json())
    with host_process(site.host_dir) as host:
        base = ["client", "--store", store]
        invoke(*base, "ipk", site.product("Standard").setup_key, "--trust", trust)
        invoke(*base, "skms", host.address)
        result = subprocess.run(
            openkms_cmd(*base, "ato"), capture_output=True, text=True, check=False
        )
    assert result.returncode == 1
    assert "0xC004F038" in result.stderr + result.stdout
    assert "count 1 of 5" in result.stderr + result.stdout
