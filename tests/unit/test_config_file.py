"""The host's configuration file: one precedence, sources shown, clear errors with lines."""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from openkms.admin.http_guard import ADMIN_LIMITS
from openkms.cli.main import cli
from openkms.core.codes import ResultCode
from openkms.errors import OpenKMSError
from openkms.host.config_file import OPTIONS, LogConfig, Source, load_serve_config
from openkms.host.logs import configure_logging, journal_attached
from openkms.host.sdnotify import notify

PACKAGED = Path(__file__).resolve().parents[2] / "packaging" / "host.toml"

FILE = """\
store = "/srv/kms"

[limits]
max_connections = 50
idle_timeout = 4.5

[log]
level = "DEBUG"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "host.toml"
    path.write_text(text)
    return path


def test_precedence_is_flag_then_env_then_file_then_default(tmp_path: Path) -> None:
    path = write(tmp_path, FILE)
    config = load_serve_config(
        path,
        {"limits.max_connections": 7},
        {"OPENKMS_MAX_CONNECTIONS": "8", "OPENKMS_IDLE_TIMEOUT": "3", "OPENKMS_LOG_LEVEL": ""},
    )
    by_key = {s.key: s for s in config.settings}
    assert (by_key["limits.max_connections"].value, by_key["limits.max_connections"].source) == (
        7,
        Source.FLAG,
    )
    assert by_key["limits.idle_timeout"].value == 3.0
    assert by_key["limits.idle_timeout"].origin == "OPENKMS_IDLE_TIMEOUT"
    assert by_key["log.level"].value == "DEBUG"  # an empty variable does not count
    assert by_key["log.level"].origin == f"{path}:8"
    assert by_key["store"].origin == f"{path}:1"
    assert by_key["admin.address"].source is Source.DEFAULT
    assert config.store_dir == Path("/srv/kms")


def test_the_file_comes_from_openkms_config_when_no_flag(tmp_path: Path) -> None:
    path = write(tmp_path, FILE)
    config = load_serve_config(None, {}, {"OPENKMS_CONFIG": str(path)})
    assert config.config_file == path
    assert config.value("limits.max_connections") == 50


def test_every_option_has_a_variable_a_flag_and_a_documented_key() -> None:
    documented = PACKAGED.read_text()
    docs = (PACKAGED.parents[1] / "docs" / "operations.md").read_text()
    for option in OPTIONS:
        assert option.env.startswith("OPENKMS_") and option.flag.startswith("--")
        assert option.key.rpartition(".")[2] in documented, option.key
        assert option.env in docs, option.env


def test_the_packaged_file_loads_and_changes_no_default() -> None:
    config = load_serve_config(PACKAGED, {}, {})
    for setting in config.settings:
        option = next(o for o in OPTIONS if o.key == setting.key)
        assert setting.value == option.default or setting.key == "store", setting.key


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[limits]\nmax_conections = 5\n", "host.toml:2: unknown key 'limits.max_conections'"),
        ("[limits]\n\nidle_timeout = -1\n", "host.toml:3: bad value -1 for limits.idle_timeout"),
        ('[log]\nlevel = "LOUD"\n', "expected one of DEBUG, INFO, WARNING, ERROR"),
        ('[listen]\naddresses = ["nohost:99999"]\n', "is not an address"),
        ("[limits\n", "not valid TOML: Expected ']' at the end of a table declaration (at line 1"),
        ("limits = 5\n", "unknown key 'limits'"),
    ],
)
def test_bad_files_name_the_key_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(OpenKMSError) as caught:
        load_serve_config(write(tmp_path, text), {}, {})
    assert message in caught.value.message
    assert caught.value.code is ResultCode.INVALID_ARGUMENT
    assert caught.value.fix


def test_bad_environment_values_name_the_variable(tmp_path: Path) -> None:
    with pytest.raises(OpenKMSError, match="OPENKMS_MAX_CONNECTIONS: bad value 'many'"):
        load_serve_config(None, {}, {"OPENKMS_MAX_CONNECTIONS": "many"})


def test_no_store_anywhere_is_a_clear_error() -> None:
    with pytest.raises(OpenKMSError, match="no store directory is configured") as caught:
        _ = load_serve_config(None, {}, {}).store_dir
    assert "--store" in (caught.value.fix or "")


def test_host_and_admin_configs_are_built_from_the_effective_values(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("0123456789abcdef0123\n")
    text = FILE + f'\n[admin]\naddress = "0.0.0.0:9090"\ntoken_file = "{token}"\n'
    text += '[listen]\naddresses = ["127.0.0.1", "[::1]:1700"]\n[dns]\npublishing = false\n'
    config = load_serve_config(write(tmp_path, text), {}, {})
    host = config.host_config(1688, "kms01")
    assert host.listen == (("127.0.0.1", 1688), ("::1", 1700))
    assert (host.max_connections, host.idle_timeout, host.dns_publishing) == (50, 4.5, False)
    assert host.machine_name == "kms01"
    admin = config.admin_config({})
    assert admin is not None and (admin.host, admin.port) == ("0.0.0.0", 9090)
    assert admin.token == "0123456789abcdef0123"
    off = load_serve_config(None, {"admin.enabled": False}, {})
    assert off.admin_config({}) is None


def test_a_dsn_password_is_masked() -> None:
    dsn = "postgresql://kms:hunter2@db.example/kms"
    config = load_serve_config(None, {}, {"OPENKMS_DATABASE": dsn})
    (setting,) = [s for s in config.settings if s.key == "database.dsn"]
    assert setting.shown() == "postgresql://kms:***@db.example/kms"


def test_show_config_prints_values_and_sources(tmp_path: Path) -> None:
    path = write(tmp_path, FILE)
    runner = CliRunner(env={"OPENKMS_IDLE_TIMEOUT": "2"})
    result = runner.invoke(
        cli, ["host", "show-config", "--config", str(path), "--max-connections", "9"]
    )
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert lines["limits.max_connections"].split()[1:] == ["9", "flag", "(--max-connections)"]
    assert lines["limits.idle_timeout"].split()[1:] == ["2.0", "env", "(OPENKMS_IDLE_TIMEOUT)"]
    assert lines["log.level"].split()[1:] == ["DEBUG", "file", f"({path}:8)"]
    result = runner.invoke(cli, ["host", "show-config", "--config", str(path), "--json"])
    document = json.loads(result.stdout)
    assert document["config_file"] == str(path)
    store = next(row for row in document["settings"] if row["key"] == "store")
    assert store == {"key": "store", "value": "/srv/kms", "source": "file", "origin": f"{path}:1"}


def test_show_config_errors_are_printed_with_their_fix(tmp_path: Path) -> None:
    path = write(tmp_path, "[limits]\nmax_conections = 5\n")
    result = CliRunner().invoke(cli, ["host", "show-config", "--config", str(path)])
    assert result.exit_code == 1
    assert "Error: 0x80070057" in result.stderr and "Fix: Remove it" in result.stderr


def test_a_file_destination_rotates(tmp_path: Path) -> None:
    log_file = tmp_path / "host.log"
    configure_logging(LogConfig("INFO", "file", log_file, max_bytes=200, backups=2), {})
    try:
        for i in range(30):
            logging.getLogger("openkms.host").info("line %d of the rotation test", i)
        handler = logging.getLogger().handlers[0]
        assert isinstance(handler, logging.handlers.RotatingFileHandler)
        assert (tmp_path / "host.log.1").exists() and (tmp_path / "host.log.2").exists()
        assert not (tmp_path / "host.log.3").exists()
        assert "line 29 of the rotation test" in log_file.read_text()
    finally:
        configure_logging(LogConfig(), {})


def test_an_unwritable_log_file_is_a_clear_error(tmp_path: Path) -> None:
    config = LogConfig("INFO", "file", tmp_path / "missing" / "host.log")
    with pytest.raises(OpenKMSError, match="cannot open the log file") as caught:
        configure_logging(config, {})
    assert caught.value.code is ResultCode.ACCESS_DENIED


def test_the_journal_is_recognised_by_its_stream(tmp_path: Path) -> None:
    with (tmp_path / "stream").open("w") as stream:
        stat = os.fstat(stream.fileno())
        attached = {"JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}"}
        assert journal_attached(attached, stream.fileno())
        assert not journal_attached({"JOURNAL_STREAM": "1:2"}, stream.fileno())
        assert not journal_attached({}, stream.fileno())


def test_sd_notify_sends_a_datagram_to_the_notify_socket(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(str(tmp_path / "notify"))
        assert notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "notify")})
        assert manager.recv(64) == b"READY=1"
    name = f"openkms-unit-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind("\0" + name)
        assert notify("STOPPING=1", {"NOTIFY_SOCKET": "@" + name})
        assert manager.recv(64) == b"STOPPING=1"


def test_sd_notify_without_a_manager_does_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert not notify("READY=1", {})
    assert not notify("READY=1", {"NOTIFY_SOCKET": "relative"})
    assert not notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert "cannot notify the service manager" in caplog.text


def test_admin_allowed_hosts_come_from_the_file_the_environment_or_flags(tmp_path: Path) -> None:
    path = tmp_path / "host.toml"
    path.write_text('store = "/srv/openkms"\n[admin]\nallowed_hosts = ["KMS.example.com"]\n')
    admin = load_serve_config(path, {}, {}).admin_config({})
    assert admin is not None and admin.allowed_hosts == ("kms.example.com",)
    assert admin.accepts_host("kms.example.com") and not admin.accepts_host("evil.example")
    env = {"OPENKMS_ADMIN_ALLOWED_HOSTS": "a.example, b.example"}
    from_env = load_serve_config(path, {}, env).admin_config({})
    assert from_env is not None and from_env.allowed_hosts == ("a.example", "b.example")


def test_the_admin_limits_come_from_flags_environment_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[admin]\nmax_connections = 64\ntrusted_proxies = ["::1"]\n')
    environ = {"OPENKMS_ADMIN_MAX_CONNECTIONS_PER_ADDRESS": "8"}
    flags = {"admin.keepalive_timeout": 2.5}
    admin = load_serve_config(path, flags, environ).admin_config(environ)
    assert admin is not None
    limits = admin.limits
    assert (limits.max_connections, limits.max_connections_per_address) == (64, 8)
    assert (limits.header_timeout, limits.keepalive_timeout) == (10.0, 2.5)
    assert limits.exempt_addresses == ("::1",)
    default = load_serve_config(None, {}, {}).admin_config({})
    assert default is not None and default.limits == ADMIN_LIMITS


def test_a_trusted_proxy_must_be_an_ip_address(tmp_path: Path) -> None:
    path = write(tmp_path, '[admin]\ntrusted_proxies = ["proxy.example"]\n')
    with pytest.raises(OpenKMSError) as caught:
        load_serve_config(path, {}, {})
    assert "'proxy.example' is not an IP address" in caught.value.message
