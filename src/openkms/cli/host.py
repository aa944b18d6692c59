"""``openkms host`` commands that install, activate and administer a KMS host (the group
is ``cli/host_group.py``; serving is ``cli/host_serve.py``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

import click

from openkms._files import atomic_write, read_bytes
from openkms.cli._common import (
    echo_json,
    host_context,
    host_state,
)
from openkms.core.codes import ResultCode
from openkms.core.installed_key import CLEARED_MESSAGE
from openkms.core.trust import Trust
from openkms.errors import OpenKMSError
from openkms.event_export import FORMATS, export_events
from openkms.host.info import HostInfo, gather_host_info
from openkms.host.online import activate_online
from openkms.i18n import N_, _
from openkms.localformat import format_date
from openkms.slmgr_text import host_text, host_xpr_text
from openkms.store import BlockingReader, check_integrity, open_reader
from openkms.store.base import EventQuery
from openkms.store.lock import serving_host

__all__ = [
    "activation_request",
    "ato",
    "cdns",
    "check",
    "cpky",
    "cpri",
    "dli",
    "dlv",
    "events",
    "install_certificate",
    "ipk",
    "sai",
    "sdns",
    "spri",
    "sprt",
    "sri",
    "upk",
    "xpr",
]

_DATABASE_HELP = N_("A PostgreSQL DSN shared with other hosts (else OPENKMS_DATABASE).")


@click.command()
@click.argument("key")
@click.option("--trust", "trust_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.pass_context
def ipk(ctx: click.Context, key: str, trust_file: Path | None) -> None:
    """Install a host key (optionally pinning the publisher's trust.json)."""
    trust = Trust.from_json(read_bytes(trust_file, "trust file")) if trust_file else None
    installed = host_state(ctx).install_key(key, trust)
    click.echo(_("Installed host key {key} successfully.").format(key=installed))


@click.command("activation-request")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def activation_request(ctx: click.Context, output: Path) -> None:
    """Write the request to send to the publisher (host key, public key, fingerprint)."""
    host = host_context(ctx)
    data = host.state.activation_request(host.machine_name, int(time.time()))
    atomic_write(output, data)
    click.echo(
        _("Activation request written to {path}; send it to the publisher.").format(path=output)
    )


@click.command("install-certificate")
@click.argument("certificate", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.pass_context
def install_certificate(ctx: click.Context, certificate: Path) -> None:
    """Install the host certificate issued by the publisher."""
    cert = host_state(ctx).install_certificate(
        read_bytes(certificate, "certificate"), int(time.time())
    )
    _echo_activated(cert.group, cert.expires_at)


def _echo_activated(group: str, expires_at: int) -> None:
    click.echo(
        _("Host activated: license group {group}, certificate valid until {date}.").format(
            group=group, date=format_date(expires_at)
        )
    )


@click.command()
@click.option("--publisher-url", help="The publisher's service (default: the catalog's).")
@click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(1, 300))
@click.pass_context
def ato(ctx: click.Context, publisher_url: str | None, timeout: float) -> None:
    """Activate the host online with the publisher's service (the offline files stay)."""
    host = host_context(ctx)
    click.echo(_("Activating..."))
    cert = activate_online(host.state, host.machine_name, int(time.time()), publisher_url, timeout)
    _echo_activated(cert.group, cert.expires_at)


@click.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Run the full integrity check of the store's database (read-only; reads every page)."""
    directory = host_state(ctx).directory
    pages = check_integrity(directory)
    click.echo(
        _("The store {path} is sound ({pages} pages checked).").format(path=directory, pages=pages)
    )


def _host_info(ctx: click.Context, database: str | None = None) -> HostInfo:
    state = host_state(ctx)
    now = int(time.time())
    snapshot = state.snapshot(now)
    serving = serving_host(state.directory)
    listening = serving.listen if serving is not None else ()

    async def gather() -> HostInfo:
        # Reads only (no writer, no file); a host that never ran has an empty store.
        async with open_reader(state.directory, database, missing_ok=True) as reader:
            return await gather_host_info(snapshot, reader, now, listening)

    if snapshot.host_key is None:
        raise OpenKMSError(code=ResultCode.NO_PRODUCT_KEY)
    return asyncio.run(gather())


def _info(ctx: click.Context, verbose: bool, as_json: bool, database: str | None) -> None:
    info = _host_info(ctx, database)
    if as_json:
        echo_json(info)
    else:
        click.echo(host_text(info, verbose=verbose))


@click.command()
@click.pass_context
def xpr(ctx: click.Context) -> None:
    """Display when the host's own activation (its certificate) expires."""
    click.echo(host_xpr_text(_host_info(ctx)))


@click.command()
@click.pass_context
def upk(ctx: click.Context) -> None:
    """Uninstall the host key and its certificate (the identity and the store stay)."""
    if host_state(ctx).uninstall_key() is None:
        raise OpenKMSError(code=ResultCode.NO_PRODUCT_KEY)
    click.echo(_("Uninstalled product key successfully."))


@click.command()
@click.pass_context
def cpky(ctx: click.Context) -> None:
    """Clear the host key's text from the store (its ID and partial key stay)."""
    if host_state(ctx).clear_key_text() is None:
        raise OpenKMSError(code=ResultCode.NO_PRODUCT_KEY)
    click.echo(_(CLEARED_MESSAGE))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--database", help=_DATABASE_HELP)
@click.pass_context
def dli(ctx: click.Context, as_json: bool, database: str | None) -> None:
    """Display license information (count, port, DNS, cumulative requests)."""
    _info(ctx, False, as_json, database)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--database", help=_DATABASE_HELP)
@click.pass_context
def dlv(ctx: click.Context, as_json: bool, database: str | None) -> None:
    """Display detailed license information."""
    _info(ctx, True, as_json, database)


@click.command()
@click.argument("port", type=int)
@click.pass_context
def sprt(ctx: click.Context, port: int) -> None:
    """Set the listening port (takes effect when the host restarts)."""
    host_state(ctx).update_settings(port=port)
    click.echo(
        _("KMS port set to {port} successfully. Restart the host for it to take effect.").format(
            port=port
        )
    )


@click.command()
@click.argument("minutes", type=int)
@click.pass_context
def sai(ctx: click.Context, minutes: int) -> None:
    """Set the clients' activation (retry) interval, 15..43200 minutes."""
    host_state(ctx).update_settings(activation_interval=minutes)
    click.echo(
        _("Activation interval set to {minutes} minutes successfully.").format(minutes=minutes)
    )


@click.command()
@click.argument("minutes", type=int)
@click.pass_context
def sri(ctx: click.Context, minutes: int) -> None:
    """Set the clients' renewal interval, 15..43200 minutes."""
    host_state(ctx).update_settings(renewal_interval=minutes)
    click.echo(_("Renewal interval set to {minutes} minutes successfully.").format(minutes=minutes))


@click.command()
@click.pass_context
def sdns(ctx: click.Context) -> None:
    """Enable DNS publishing."""
    host_state(ctx).update_settings(dns_publishing=True)
    click.echo(_("DNS publishing enabled successfully."))


@click.command()
@click.pass_context
def cdns(ctx: click.Context) -> None:
    """Disable DNS publishing (removes nothing)."""
    host_state(ctx).update_settings(dns_publishing=False)
    click.echo(_("DNS publishing disabled successfully."))


@click.command()
@click.pass_context
def spri(ctx: click.Context) -> None:
    """Set the KMS priority to Normal."""
    host_state(ctx).update_settings(low_priority=False)
    click.echo(_("KMS priority set to Normal successfully."))


@click.command()
@click.pass_context
def cpri(ctx: click.Context) -> None:
    """Set the KMS priority to Low."""
    host_state(ctx).update_settings(low_priority=True)
    click.echo(_("KMS priority set to Low successfully."))


@click.command()
@click.option("--id", "event_ids", multiple=True, type=int, help="Only this event ID (repeatable).")
@click.option("--since", type=click.DateTime(), help="Only events at or after this UTC time.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--database", help=_DATABASE_HELP)
@click.pass_context
def events(
    ctx: click.Context,
    event_ids: tuple[int, ...],
    since: dt.datetime | None,
    fmt: str,
    database: str | None,
) -> None:
    """Export the Key Management Service event log (12290, 12293, 12294)."""
    state = host_state(ctx)
    start = int(since.replace(tzinfo=dt.UTC).timestamp()) if since else None
    with BlockingReader(open_reader(state.directory, database)) as reader:
        records = reader.iter_events(EventQuery(event_ids=event_ids, since=start))
        for chunk in export_events(records, fmt, "Key Management Service"):
            click.echo(chunk, nl=False)
