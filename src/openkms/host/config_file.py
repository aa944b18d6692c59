"""The host's configuration file, environment and flags, resolved once into one ``ServeConfig``.

Every option has a key in ``host.toml`` (``limits.max_connections``), an environment variable
(``OPENKMS_MAX_CONNECTIONS``) and a flag of ``openkms host serve`` (``--max-connections``).
One precedence, for every option: **flag > environment > file > default**. The loader records
where each value came from, which ``openkms host show-config`` prints.

Unknown keys and bad values are errors that name the key, the file and line when known, and
the fix; nothing is silently ignored.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from openkms._address import parse_address
from openkms.admin.config import DEFAULT_ADMIN_ADDRESS, AdminConfig, read_token
from openkms.admin.http_guard import ADMIN_LIMITS, ConnectionLimits
from openkms.core.codes import ResultCode
from openkms.errors import OpenKMSError
from openkms.host._config_values import (
    Value,
    address,
    addresses,
    boolean,
    choice,
    count,
    ip_addresses,
    names,
    optional_text,
    positive_int,
    seconds,
)
from openkms.host.config import HostConfig
from openkms.i18n import N_, _

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "ENV_CONFIG",
    "OPTIONS",
    "LogConfig",
    "Option",
    "ServeConfig",
    "Setting",
    "Source",
    "load_serve_config",
]

DEFAULT_CONFIG_PATH: Final = Path("/etc/openkms/host.toml")
ENV_CONFIG: Final = "OPENKMS_CONFIG"
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_DESTINATIONS: Final = ("stderr", "file")


class Source(enum.StrEnum):
    """Where an effective value came from, weakest first."""

    DEFAULT = "default"
    FILE = "file"
    ENV = "env"
    FLAG = "flag"


@dataclass(frozen=True, slots=True)
class Option:
    """One setting of ``host serve``: its file key, variable, flag, parser and default."""

    key: str
    env: str
    flag: str
    parse: Callable[[object], Value]
    default: Value
    help: str
    secret: bool = False


# The defaults are the config classes': the file, the flags and the library agree.
_HOST_DEFAULTS: Final = {field.name: field.default for field in dataclasses.fields(HostConfig)}


def _host_default(name: str) -> int | float:
    default = _HOST_DEFAULTS[name]
    if not isinstance(default, int | float):  # a programming error, caught at import
        raise TypeError(f"HostConfig.{name} has no numeric default")
    return default


OPTIONS: Final = (
    Option("store", "OPENKMS_STORE", "--store", optional_text, None, N_("The store directory.")),
    Option(
        "machine_name",
        "OPENKMS_MACHINE_NAME",
        "--machine-name",
        optional_text,
        None,
        N_("This host's name (default: the host name)."),
    ),
    Option(
        "listen.addresses",
        "OPENKMS_LISTEN",
        "--listen",
        addresses,
        (),
        N_("ADDR:PORT to listen on (empty: 0.0.0.0 and [::] on the store's port)."),
    ),
    Option(
        "admin.enabled", "OPENKMS_ADMIN_ENABLED", "--no-admin", boolean, True, N_("Serve admin.")
    ),
    Option(
        "admin.address",
        "OPENKMS_ADMIN",
        "--admin",
        address,
        DEFAULT_ADMIN_ADDRESS,
        N_("Admin ADDR:PORT."),
    ),
    Option(
        "admin.token_file",
        "OPENKMS_ADMIN_TOKEN_FILE",
        "--admin-token-file",
        optional_text,
        None,
        N_("File holding the admin bearer token (else OPENKMS_ADMIN_TOKEN)."),
    ),
    Option(
        "admin.allowed_hosts",
        "OPENKMS_ADMIN_ALLOWED_HOSTS",
        "--admin-allowed-host",
        names,
        (),
        N_("Host names the admin API answers for besides loopback and IP addresses (421 else)."),
    ),
    Option(
        "admin.max_connections",
        "OPENKMS_ADMIN_MAX_CONNECTIONS",
        "--admin-max-connections",
        positive_int,
        ADMIN_LIMITS.max_connections,
        N_("Open admin connections at most."),
    ),
    Option(
        "admin.max_connections_per_address",
        "OPENKMS_ADMIN_MAX_CONNECTIONS_PER_ADDRESS",
        "--admin-max-connections-per-address",
        positive_int,
        ADMIN_LIMITS.max_connections_per_address,
        N_("Admin connections one source address may hold at once (trusted proxies: no cap)."),
    ),
    Option(
        "admin.trusted_proxies",
        "OPENKMS_ADMIN_TRUSTED_PROXIES",
        "--admin-trusted-proxy",
        ip_addresses,
        (),
        N_("Reverse proxies' IP addresses, held only to the admin's total cap."),
    ),
    Option(
        "admin.header_timeout",
        "OPENKMS_ADMIN_HEADER_TIMEOUT",
        "--admin-header-timeout",
        seconds,
        ADMIN_LIMITS.header_timeout,
        N_("Seconds an admin connection has to send its request line and headers."),
    ),
    Option(
        "admin.keepalive_timeout",
        "OPENKMS_ADMIN_KEEPALIVE_TIMEOUT",
        "--admin-keepalive-timeout",
        seconds,
        ADMIN_LIMITS.keepalive_timeout,
        N_("Seconds an idle admin connection is kept after a response."),
    ),
    Option(
        "log.level",
        "OPENKMS_LOG_LEVEL",
        "--log-level",
        choice(LOG_LEVELS),
        "INFO",
        N_("Log level."),
    ),
    Option(
        "log.destination",
        "OPENKMS_LOG_DESTINATION",
        "--log-destination",
        choice(LOG_DESTINATIONS),
        "stderr",
        N_("stderr (the journal under systemd) or file."),
    ),
    Option(
        "log.file",
        "OPENKMS_LOG_FILE",
        "--log-file",
        optional_text,
        "/var/log/openkms/host.log",
        N_("The log file when destination is file."),
    ),
    Option(
        "log.max_bytes",
        "OPENKMS_LOG_MAX_BYTES",
        "--log-max-bytes",
        count,
        10_485_760,
        N_("Rotate the log file at this size (0: never; use logrotate)."),
    ),
    Option(
        "log.backups", "OPENKMS_LOG_BACKUPS", "--log-backups", count, 5, N_("Rotated files kept.")
    ),
    Option(
        "dns.publishing",
        "OPENKMS_DNS_PUBLISHING",
        "--no-dns",
        boolean,
        True,
        N_("Publish the SRV record (false: never this run, whatever sdns says)."),
    ),
    Option(
        "limits.max_connections",
        "OPENKMS_MAX_CONNECTIONS",
        "--max-connections",
        positive_int,
        _host_default("max_connections"),
        N_("Open client connections at most."),
    ),
    Option(
        "limits.max_connections_per_address",
        "OPENKMS_MAX_CONNECTIONS_PER_ADDRESS",
        "--max-connections-per-address",
        positive_int,
        _host_default("max_connections_per_address"),
        N_("Connections one source address may hold at once; its next ones are closed."),
    ),
    Option(
        "limits.idle_timeout",
        "OPENKMS_IDLE_TIMEOUT",
        "--idle-timeout",
        seconds,
        _host_default("idle_timeout"),
        N_("Seconds before an idle client connection is closed."),
    ),
    Option(
        "publisher.url",
        "OPENKMS_PUBLISHER_URL",
        "--publisher-url",
        optional_text,
        None,
        N_(
            "The publisher service to fetch revocation lists and catalogs from (hourly; default: "
            "the catalog's publisher URL)."
        ),
    ),
    Option(
        "database.dsn",
        "OPENKMS_DATABASE",
        "--database",
        optional_text,
        None,
        N_("Reserved for PostgreSQL (shared counts); empty: SQLite in the store."),
        secret=True,
    ),
)
_BY_KEY: Final = {option.key: option for option in OPTIONS}


@dataclass(frozen=True, slots=True)
class Setting:
    """One effective value and where it came from (``origin``: file:line or variable)."""

    key: str
    value: Value
    source: Source
    origin: str

    def shown(self) -> Value:
        """The value, with the password of a DSN masked."""
        if self.key == "database.dsn" and isinstance(self.value, str):
            return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", self.value)
        return self.value


@dataclass(frozen=True, slots=True)
class LogConfig:
    """Where and how much the host logs."""

    level: str = "INFO"
    destination: str = "stderr"
    file: Path | None = None
    max_bytes: int = 10_485_760
    backups: int = 5


@dataclass(frozen=True, slots=True)
class ServeConfig:
    """The effective configuration of ``openkms host serve``, every value with its source."""

    settings: tuple[Setting, ...]
    config_file: Path | None = None

    def value(self, key: str) -> Value:
        """The effective value of ``key`` (e.g. ``limits.idle_timeout``)."""
        return next(s.value for s in self.settings if s.key == key)

    @property
    def store_dir(self) -> Path:
        """The store directory; an error when no source gave one."""
        store = self.value("store")
        if not isinstance(store, str):
            raise OpenKMSError(
                _("no store directory is configured"),
                code=ResultCode.INVALID_ARGUMENT,
                fix=_(
                    "Give --store DIR, set OPENKMS_STORE, or set 'store' in the configuration "
                    "file (--config FILE)."
                ),
            )
        return Path(store)

    @property
    def log(self) -> LogConfig:
        """The logging part."""
        file = self.value("log.file")
        return LogConfig(
            level=str(self.value("log.level")),
            destination=str(self.value("log.destination")),
            file=Path(file) if isinstance(file, str) else None,
            max_bytes=int(str(self.value("log.max_bytes"))),
            backups=int(str(self.value("log.backups"))),
        )

    def host_config(self, default_port: int, machine_name: str) -> HostConfig:
        """The listener side: ``default_port`` is the store's port (``sprt``)."""
        listen = self.value("listen.addresses")
        addresses = listen if isinstance(listen, tuple) else ()
        name = self.value("machine_name")
        return HostConfig(
            store_dir=self.store_dir,
            listen=tuple(parse_address(a, default_port) for a in addresses),
            machine_name=name if isinstance(name, str) else machine_name,
            max_connections=int(str(self.value("limits.max_connections"))),
            max_connections_per_address=int(str(self.value("limits.max_connections_per_address"))),
            idle_timeout=float(str(self.value("limits.idle_timeout"))),
            dns_publishing=self.value("dns.publishing") is True,
            database=dsn if isinstance(dsn := self.value("database.dsn"), str) else None,
            publisher_url=url if isinstance(url := self.value("publisher.url"), str) else None,
        )

    def admin_config(self, environ: Mapping[str, str]) -> AdminConfig | None:
        """The admin server's configuration, None when it is turned off."""
        if self.value("admin.enabled") is not True:
            return None
        host, port = parse_address(str(self.value("admin.address")), 8080)
        token_file = self.value("admin.token_file")
        token_path = Path(token_file) if isinstance(token_file, str) else None
        allowed = self.value("admin.allowed_hosts")
        proxies = self.value("admin.trusted_proxies")
        limits = ConnectionLimits(
            max_connections=int(str(self.value("admin.max_connections"))),
            max_connections_per_address=int(str(self.value("admin.max_connections_per_address"))),
            header_timeout=float(str(self.value("admin.header_timeout"))),
            keepalive_timeout=float(str(self.value("admin.keepalive_timeout"))),
            exempt_addresses=proxies if isinstance(proxies, tuple) else (),
        )
        return AdminConfig(
            host,
            port,
            read_token(token_path, dict(environ)),
            allowed_hosts=allowed if isinstance(allowed, tuple) else (),
            limits=limits,
        )


def _config_error(message: str, fix: str) -> OpenKMSError:
    return OpenKMSError(message, code=ResultCode.INVALID_ARGUMENT, fix=fix)


def _flatten(table: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict) and not any(o.key == key for o in OPTIONS):
            flat.update(_flatten(value, key + "."))
        else:
            flat[key] = value
    return flat


def _line_of(text: str, key: str) -> int | None:
    """The line that sets ``key`` (under its ``[table]`` header), when it can be found."""
    table, _dot, name = key.rpartition(".")
    current = ""
    for number, line in enumerate(text.splitlines(), start=1):
        header = re.match(r"\s*\[([^\]]+)\]", line)
        if header:
            current = header.group(1).strip()
        elif current == table and re.match(rf"\s*{re.escape(name)}\s*=", line):
            return number
    return None


def _read_file(path: Path) -> tuple[dict[str, object], str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _config_error(
            _("cannot read the configuration file {path}: {exc}").format(path=path, exc=exc),
            _("Check the path (--config or OPENKMS_CONFIG) and that this user may read it."),
        ) from None
    try:
        return _flatten(tomllib.loads(text)), text
    except tomllib.TOMLDecodeError as exc:
        raise _config_error(
            _("{path} is not valid TOML: {exc}").format(path=path, exc=exc),
            _("Correct the line named above; see docs/operations.md for the file's format."),
        ) from None


def _parse(option: Option, raw: object, where: str) -> Value:
    try:
        return option.parse(raw)
    except (ValueError, OpenKMSError) as exc:
        reason = exc.message if isinstance(exc, OpenKMSError) else str(exc)
        raise _config_error(
            _("{where}: bad value {raw!r} for {key}: {reason}").format(
                where=where, raw=raw, key=option.key, reason=reason
            ),
            _("Correct {key} ({help})").format(key=option.key, help=_(option.help)),
        ) from None


def _from_file(path: Path) -> dict[str, tuple[Value, str]]:
    values, text = _read_file(path)
    found: dict[str, tuple[Value, str]] = {}
    for key, raw in values.items():
        line = _line_of(text, key)
        where = f"{path}:{line}" if line else str(path)
        option = _BY_KEY.get(key)
        if option is None:
            known = ", ".join(o.key for o in OPTIONS)
            raise _config_error(
                _("{where}: unknown key {key!r}").format(where=where, key=key),
                _("Remove it or correct its spelling; the keys are: {known}.").format(known=known),
            )
        found[key] = (_parse(option, raw, where), where)
    return found


def load_serve_config(
    config_file: Path | None,
    flags: Mapping[str, object],
    environ: Mapping[str, str],
) -> ServeConfig:
    """Resolve every option: flag > environment > file > default.

    ``flags`` holds only the options given on the command line, by key; ``config_file`` None
    means ``OPENKMS_CONFIG`` if set, else no file.
    """
    unknown = set(flags) - set(_BY_KEY)
    if unknown:
        raise ValueError(f"unknown option keys {sorted(unknown)}")  # a programming error
    path = config_file or (Path(environ[ENV_CONFIG]) if environ.get(ENV_CONFIG) else None)
    from_file = _from_file(path) if path is not None else {}
    settings = []
    for option in OPTIONS:
        if option.key in flags:
            value = _parse(option, flags[option.key], option.flag)
            setting = Setting(option.key, value, Source.FLAG, option.flag)
        elif environ.get(option.env, "") != "":
            value = _parse(option, environ[option.env], option.env)
            setting = Setting(option.key, value, Source.ENV, option.env)
        elif option.key in from_file:
            value, where = from_file[option.key]
            setting = Setting(option.key, value, Source.FILE, where)
        else:
            setting = Setting(option.key, option.default, Source.DEFAULT, "default")
        settings.append(setting)
    return ServeConfig(tuple(settings), path)
