"""``openkms host serve|show-config|backup|restore``: running a host as a service."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import msgspec

from openkms._address import format_address
from openkms._files import atomic_write
from openkms.cli._common import host_state
from openkms.host.app import HostApp
from openkms.host.config_file import OPTIONS, ServeConfig, Setting, load_serve_config
from openkms.host.logs import configure_logging
from openkms.host.maintenance import backup_store, restore_store
from openkms.host.runner import run
from openkms.host.state import HostState
from openkms.i18n import _

__all__ = ["backup", "restore", "serve", "show_config"]

F = TypeVar("F", bound=Callable[..., Any])

_HELP = {option.key: option.help for option in OPTIONS}
# click parameter name -> configuration key; flags named --no-X set the key to False.
_PARAMS = {
    "listen": "listen.addresses",
    "admin_address": "admin.address",
    "no_admin": "admin.enabled",
    "admin_token_file": "admin.token_file",
    "admin_hosts": "admin.allowed_hosts",
    "log_level": "log.level",
    "log_destination": "log.destination",
    "log_file": "log.file",
    "log_max_bytes": "log.max_bytes",
    "log_backups": "log.backups",
    "no_dns": "dns.publishing",
    "admin_max_connections": "admin.max_connections",
    "admin_max_connections_per_address": "admin.max_connections_per_address",
    "admin_proxies": "admin.trusted_proxies",
    "admin_header_timeout": "admin.header_timeout",
    "admin_keepalive_timeout": "admin.keepalive_timeout",
    "max_connections": "limits.max_connections",
    "max_connections_per_address": "limits.max_connections_per_address",
    "idle_timeout": "limits.idle_timeout",
    "database": "database.dsn",
    "publisher_url": "publisher.url",
}


def _serve_options(command: F) -> F:
    """The options shared by ``serve`` and ``show-config``: no defaults here, the library's."""
    options = [
        click.option(
            "--config",
            "config_file",
            type=click.Path(dir_okay=False, path_type=Path),
            help="The configuration file (or OPENKMS_CONFIG), e.g. /etc/openkms/host.toml.",
        ),
        click.option("--listen", multiple=True, help="ADDR:PORT to listen on (repeatable)."),
        click.option("--admin", "admin_address", help="ADDR:PORT of the admin API (0: any)."),
        click.option("--no-admin", is_flag=True, default=None, help="No admin API/dashboard."),
        click.option("--admin-token-file", help=_HELP["admin.token_file"]),
        click.option(
            "--admin-allowed-host",
            "admin_hosts",
            multiple=True,
            help=_HELP["admin.allowed_hosts"],
        ),
        *(
            click.option(flag, type=kind, help=_HELP[key])
            for flag, kind, key in (
                ("--admin-max-connections", click.IntRange(1), "admin.max_connections"),
                (
                    "--admin-max-connections-per-address",
                    click.IntRange(1),
                    "admin.max_connections_per_address",
                ),
                ("--admin-header-timeout", click.FloatRange(0.1), "admin.header_timeout"),
                ("--admin-keepalive-timeout", click.FloatRange(0.1), "admin.keepalive_timeout"),
            )
        ),
        click.option(
            "--admin-trusted-proxy",
            "admin_proxies",
            multiple=True,
            help=_HELP["admin.trusted_proxies"],
        ),
        click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"])),
        click.option("--log-destination", type=click.Choice(["stderr", "file"])),
        click.option("--log-file", help=_HELP["log.file"]),
        click.option("--log-max-bytes", type=click.IntRange(0), help=_HELP["log.max_bytes"]),
        click.option("--log-backups", type=click.IntRange(0), help=_HELP["log.backups"]),
        click.option("--no-dns", is_flag=True, default=None, help="No DNS publishing this run."),
        click.option("--max-connections", type=click.IntRange(1), help="Default 10000."),
        click.option(
            "--max-connections-per-address",
            type=click.IntRange(1),
            help=_HELP["limits.max_connections_per_address"],
        ),
        click.option("--idle-timeout", type=click.FloatRange(0.1), help="Seconds; default 10."),
        click.option("--database", help=_HELP["database.dsn"]),
        click.option("--publisher-url", help=_HELP["publisher.url"]),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _load(ctx: click.Context, config_file: Path | None, params: dict[str, Any]) -> ServeConfig:
    """The effective configuration from this command's flags, the environment and the file."""
    flags: dict[str, object] = {}
    for name, key in _PARAMS.items():
        value = params.get(name)
        if value is None or value == ():
            continue
        flags[key] = False if name.startswith("no_") else value
    group = ctx.parent
    # --store before the command is a flag; OPENKMS_STORE is read by the loader itself.
    given = click.core.ParameterSource.COMMANDLINE
    if group is not None and group.get_parameter_source("store_dir") == given:
        flags["store"] = str(group.params["store_dir"])
    if group is not None and group.params.get("machine_name"):
        flags["machine_name"] = group.params["machine_name"]
    return load_serve_config(config_file, flags, os.environ)


@click.command()
@_serve_options
@click.option("--ready-file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def serve(
    ctx: click.Context, /, config_file: Path | None, ready_file: Path | None, **params: Any
) -> None:
    """Serve activation requests until SIGTERM or Ctrl-C."""
    config = _load(ctx, config_file, params)
    configure_logging(config.log)
    state = HostState(config.store_dir)
    app = HostApp(
        config.host_config(state.settings.port, socket.gethostname()),
        state=state,
        admin=config.admin_config(os.environ),
    )

    def ready(addresses: list[tuple[str, int]]) -> None:
        shown = [format_address(h, p) for h, p in addresses]
        for address in shown:
            click.echo(_("listening on {address}").format(address=address))
        document: dict[str, object] = {"listen": shown}
        if app.admin is not None and app.admin.address is not None:
            document["admin"] = format_address(*app.admin.address)
            click.echo(_("admin on {url}").format(url=app.admin.url))
        if ready_file is not None:
            atomic_write(ready_file, msgspec.json.encode(document) + b"\n")

    async def main() -> None:
        app.install_signal_handlers()
        await app.serve(ready)

    run(main())


def _shown(setting: Setting) -> str:
    value = setting.shown()
    if value is None:
        return "-"
    if isinstance(value, tuple):
        return ", ".join(value) or "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@click.command("show-config")
@_serve_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show_config(
    ctx: click.Context, /, config_file: Path | None, as_json: bool, **params: Any
) -> None:
    """Print the effective configuration of 'serve' and where each value came from."""
    config = _load(ctx, config_file, params)
    if as_json:
        rows = [
            {"key": s.key, "value": s.shown(), "source": str(s.source), "origin": s.origin}
            for s in config.settings
        ]
        document = {"config_file": str(config.config_file or ""), "settings": rows}
        click.echo(msgspec.json.format(msgspec.json.encode(document), indent=2))
        return
    click.echo(_("configuration file: {path}").format(path=config.config_file or _("(none)")))
    width = max(len(s.key) for s in config.settings)
    for setting in config.settings:
        origin = "" if setting.origin == "default" else f" ({setting.origin})"
        click.echo(f"{setting.key:<{width}}  {_shown(setting):<28} {setting.source}{origin}")


def _store_options(command: F) -> F:
    """``--config`` and ``--database`` of ``backup``/``restore``: where serve finds its store."""
    command = click.option(
        "--database", help="The store's shared PostgreSQL DSN, if any (or OPENKMS_DATABASE)."
    )(command)
    return click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="The configuration file of 'serve' (or OPENKMS_CONFIG), for its database.",
    )(command)


def _database(ctx: click.Context, config_file: Path | None, database: str | None) -> str | None:
    """The shared database 'serve' would use (flag, environment, file), None for SQLite."""
    dsn = _load(ctx, config_file, {"database": database}).value("database.dsn")
    return dsn if isinstance(dsn, str) and dsn else None


@click.command()
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@_store_options
@click.pass_context
def backup(
    ctx: click.Context,
    output: Path,
    force: bool,
    config_file: Path | None,
    database: str | None,
) -> None:
    """Copy the store's SQLite database to OUTPUT, also while the host serves (PostgreSQL:
    pg_dump)."""
    state = host_state(ctx)
    dsn = _database(ctx, config_file, database)
    info = backup_store(state.directory, output, force=force, database=dsn)
    click.echo(
        _("Store backed up to {path} (schema version {version}, {size} bytes).").format(
            path=info.path, version=info.schema_version, size=info.size
        )
    )


@click.command()
@click.argument("backup_file", type=click.Path(dir_okay=False, path_type=Path))
@_store_options
@click.pass_context
def restore(
    ctx: click.Context, backup_file: Path, config_file: Path | None, database: str | None
) -> None:
    """Replace the store's SQLite database by BACKUP_FILE (the host must be stopped;
    PostgreSQL: pg_restore)."""
    state = host_state(ctx)
    dsn = _database(ctx, config_file, database)
    result = restore_store(state.directory, backup_file, dsn)
    click.echo(
        _("Store restored from {path} (schema version {version}).").format(
            path=backup_file, version=result.backup.schema_version
        )
    )
    if result.kept is not None:
        click.echo(_("The replaced database was kept as {path}.").format(path=result.kept))
