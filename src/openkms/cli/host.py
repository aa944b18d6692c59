"""``openkms host``: install, activate, serve and administer a KMS host."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

import click
import msgspec

from openkms._address import format_address, parse_address
from openkms._files import atomic_write, read_bytes
from openkms.admin.config import DEFAULT_ADMIN_ADDRESS, AdminConfig, read_token
from openkms.cli._common import (
    HostContext,
    OpenKMSGroup,
    config_default,
    echo_json,
    host_context,
    host_state,
    setup_logging,
    store_option,
)
from openkms.cli.host_dns import dns_config, unpublish
from openkms.core.codes import ResultCode
from openkms.core.trust import Trust
from openkms.errors import OpenKMSError
from openkms.event_export import FORMATS, export_events
from openkms.host.app import HostApp
from openkms.host.config import HostConfig
from openkms.host.info import HostInfo, gather_host_info
from openkms.host.runner import run
from openkms.host.state import HostState
from openkms.slmgr_text import host_text
from openkms.store import BlockingReader, open_reader
from openkms.store.base import EventQuery

__all__ = ["host"]


@click.group(cls=OpenKMSGroup)
@store_option("host")
@click.option("--machine-name", help="This host's name (default: the host name).")
@click.pass_context
def host(ctx: click.Context, store_dir: Path, machine_name: str | None) -> None:
    """A KMS host: counts clients and activates them."""
    name = machine_name or config_default(HostConfig, "machine_name")
    ctx.obj = HostContext(HostState(store_dir), name)


@host.command()
@click.argument("key")
@click.option("--trust", "trust_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.pass_context
def ipk(ctx: click.Context, key: str, trust_file: Path | None) -> None:
    """Install a host key (optionally pinning the publisher's trust.json)."""
    trust = Trust.from_json(read_bytes(trust_file, "trust file")) if trust_file else None
    installed = host_state(ctx).install_key(key, trust)
    click.echo(f"Installed host key {installed} successfully.")


@host.command("activation-request")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def activation_request(ctx: click.Context, output: Path) -> None:
    """Write the request to send to the publisher (host key, public key, fingerprint)."""
    host = host_context(ctx)
    data = host.state.activation_request(host.machine_name, int(time.time()))
    atomic_write(output, data)
    click.echo(f"Activation request written to {output}; send it to the publisher.")


@host.command("install-certificate")
@click.argument("certificate", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.pass_context
def install_certificate(ctx: click.Context, certificate: Path) -> None:
    """Install the host certificate issued by the publisher."""
    cert = host_state(ctx).install_certificate(
        read_bytes(certificate, "certificate"), int(time.time())
    )
    expires = dt.datetime.fromtimestamp(cert.expires_at, dt.UTC).date()
    click.echo(f"Host activated: license group {cert.group}, certificate valid until {expires}.")


@host.command()
@click.option("--listen", multiple=True, help="ADDR:PORT to listen on (repeatable).")
@click.option("--ready-file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--log-level", default="INFO", type=click.Choice(["DEBUG", "INFO", "WARNING"]))
@click.option(
    "--max-connections",
    default=config_default(HostConfig, "max_connections"),
    show_default=True,
    type=click.IntRange(1),
)
@click.option(
    "--idle-timeout",
    default=config_default(HostConfig, "idle_timeout"),
    show_default=True,
    type=click.FloatRange(0.1),
)
@click.option("--no-dns", is_flag=True, help="Do not publish in DNS during this run.")
@click.option(
    "--admin",
    "admin_address",
    default=DEFAULT_ADMIN_ADDRESS,
    show_default=True,
    help="ADDR:PORT of the admin API, dashboard and /metrics (port 0: any free port).",
)
@click.option("--no-admin", is_flag=True, help="Do not serve the admin API and dashboard.")
@click.option(
    "--admin-token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the admin bearer token (else OPENKMS_ADMIN_TOKEN).",
)
@click.pass_context
def serve(
    ctx: click.Context,
    listen: tuple[str, ...],
    ready_file: Path | None,
    log_level: str,
    max_connections: int,
    idle_timeout: float,
    no_dns: bool,
    admin_address: str,
    no_admin: bool,
    admin_token_file: Path | None,
) -> None:
    """Serve activation requests until SIGTERM or Ctrl-C."""
    setup_logging(log_level)
    host = host_context(ctx)
    state = host.state
    port = state.settings.port
    config = HostConfig(
        store_dir=state.directory,
        listen=tuple(parse_address(a, port) for a in listen),
        machine_name=host.machine_name,
        max_connections=max_connections,
        idle_timeout=idle_timeout,
        dns_publishing=not no_dns,
    )
    admin = None if no_admin else _admin_config(admin_address, admin_token_file)
    app = HostApp(config, state=state, admin=admin)

    def ready(addresses: list[tuple[str, int]]) -> None:
        shown = [format_address(h, p) for h, p in addresses]
        for address in shown:
            click.echo(f"listening on {address}")
        document: dict[str, object] = {"listen": shown}
        if app.admin is not None and app.admin.address is not None:
            document["admin"] = format_address(*app.admin.address)
            click.echo(f"admin on {app.admin.url}")
        if ready_file is not None:
            atomic_write(ready_file, msgspec.json.encode(document) + b"\n")

    async def main() -> None:
        app.install_signal_handlers()
        await app.serve(ready)

    run(main())


def _admin_config(address: str, token_file: Path | None) -> AdminConfig:
    host, port = parse_address(address, config_default(AdminConfig, "port"))
    return AdminConfig(host, port, read_token(token_file))


def _info(ctx: click.Context, verbose: bool, as_json: bool) -> None:
    state = host_state(ctx)
    now = int(time.time())
    snapshot = state.snapshot(now)

    async def gather() -> HostInfo:
        # Reads only (no writer, no file); a host that never ran has an empty store.
        async with open_reader(state.directory, missing_ok=True) as reader:
            return await gather_host_info(snapshot, reader, now)

    if snapshot.host_key is None:
        raise OpenKMSError(code=ResultCode.NO_PRODUCT_KEY)
    info = asyncio.run(gather())
    if as_json:
        echo_json(info)
    else:
        click.echo(host_text(info, verbose=verbose))


@host.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def dli(ctx: click.Context, as_json: bool) -> None:
    """Display license information (count, port, DNS, cumulative requests)."""
    _info(ctx, False, as_json)


@host.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def dlv(ctx: click.Context, as_json: bool) -> None:
    """Display detailed license information."""
    _info(ctx, True, as_json)


@host.command()
@click.argument("port", type=int)
@click.pass_context
def sprt(ctx: click.Context, port: int) -> None:
    """Set the listening port (takes effect when the host restarts)."""
    host_state(ctx).update_settings(port=port)
    click.echo(f"KMS port set to {port} successfully. Restart the host for it to take effect.")


@host.command()
@click.argument("minutes", type=int)
@click.pass_context
def sai(ctx: click.Context, minutes: int) -> None:
    """Set the clients' activation (retry) interval, 15..43200 minutes."""
    host_state(ctx).update_settings(activation_interval=minutes)
    click.echo(f"Activation interval set to {minutes} minutes successfully.")


@host.command()
@click.argument("minutes", type=int)
@click.pass_context
def sri(ctx: click.Context, minutes: int) -> None:
    """Set the clients' renewal interval, 15..43200 minutes."""
    host_state(ctx).update_settings(renewal_interval=minutes)
    click.echo(f"Renewal interval set to {minutes} minutes successfully.")


@host.command()
@click.pass_context
def sdns(ctx: click.Context) -> None:
    """Enable DNS publishing."""
    host_state(ctx).update_settings(dns_publishing=True)
    click.echo("DNS publishing enabled successfully.")


@host.command()
@click.pass_context
def cdns(ctx: click.Context) -> None:
    """Disable DNS publishing (removes nothing)."""
    host_state(ctx).update_settings(dns_publishing=False)
    click.echo("DNS publishing disabled successfully.")


@host.command()
@click.pass_context
def spri(ctx: click.Context) -> None:
    """Set the KMS priority to Normal."""
    host_state(ctx).update_settings(low_priority=False)
    click.echo("KMS priority set to Normal successfully.")


@host.command()
@click.pass_context
def cpri(ctx: click.Context) -> None:
    """Set the KMS priority to Low."""
    host_state(ctx).update_settings(low_priority=True)
    click.echo("KMS priority set to Low successfully.")


@host.command()
@click.option("--id", "event_ids", multiple=True, type=int, help="Only this event ID (repeatable).")
@click.option("--since", type=click.DateTime(), help="Only events at or after this UTC time.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.pass_context
def events(
    ctx: click.Context, event_ids: tuple[int, ...], since: dt.datetime | None, fmt: str
) -> None:
    """Export the Key Management Service event log (12290, 12293, 12294)."""
    state = host_state(ctx)
    start = int(since.replace(tzinfo=dt.UTC).timestamp()) if since else None
    with BlockingReader(open_reader(state.directory)) as reader:
        records = reader.iter_events(EventQuery(event_ids=event_ids, since=start))
        for chunk in export_events(records, fmt, "Key Management Service"):
            click.echo(chunk, nl=False)


host.add_command(dns_config)
host.add_command(unpublish)
