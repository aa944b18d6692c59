"""``openkms client``: the slmgr operations of a KMS client."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import socket
from pathlib import Path

import click

from openkms._files import read_bytes
from openkms.cli._common import OpenKMSGroup, echo_json, setup_logging, store_option
from openkms.cli.phone import client_atp, client_dti
from openkms.client.agent import run_agent
from openkms.client.api import AttemptOutcome, Client
from openkms.client.info import gather_client_info
from openkms.client.transport import TcpTransport
from openkms.core import settings
from openkms.core.installed_key import CLEARED_MESSAGE
from openkms.core.trust import Trust, parse_publisher_key
from openkms.dns.srv import DnsLocator, parse_server
from openkms.errors import ActivationError, OpenKMSError
from openkms.event_export import FORMATS, export_events
from openkms.i18n import _
from openkms.slmgr_text import client_text, xpr_text

__all__ = ["client"]


@click.group(cls=OpenKMSGroup)
@store_option("client", required=False)
@click.option("--machine-name", help="This machine's name (default: the host name).")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait for a host.")
@click.option("--dns-server", multiple=True, help="DNS server ADDR[:PORT] (default: resolv.conf).")
@click.option(
    "--dns-timeout",
    default=settings.DNS_TIMEOUT_SECONDS,
    show_default=True,
    type=click.FloatRange(0.05, 60),
)
@click.option("--search-domain", multiple=True, help="DNS search domain (default: resolv.conf).")
@click.option("--ignore-srv-priority", is_flag=True, help="Pick SRV hosts purely at random.")
@click.option("--service", help="SRV service to look up (default: the catalog's).")
@click.option(
    "--publisher-url", help="The publisher's service, for a MAK (default: the catalog's)."
)
@click.option(
    "--read-only",
    is_flag=True,
    help="Only read the store: nothing is written, not even the trusted time; commands "
    "that change it fail.",
)
@click.pass_context
def client(
    ctx: click.Context,
    store_dir: Path | None,
    machine_name: str | None,
    timeout: float,
    dns_server: tuple[str, ...],
    dns_timeout: float,
    search_domain: tuple[str, ...],
    ignore_srv_priority: bool,
    service: str | None,
    publisher_url: str | None,
    read_only: bool,
) -> None:
    """A KMS client: installs a setup key and activates against a host."""
    if store_dir is None:  # e.g. 'client dli --help'; a command that needs it says so
        return
    ctx.obj = Client.open(
        store_dir,
        machine_name=machine_name or socket.gethostname(),
        transport=TcpTransport(timeout),
        locator=DnsLocator(
            nameservers=[parse_server(s) for s in dns_server],
            search_domains=search_domain or None,
            timeout=dns_timeout,
            honour_priority=not ignore_srv_priority,
        ),
        service=service,
        publisher_url=publisher_url,
        read_only=read_only,
    )


def _client(ctx: click.Context) -> Client:
    found = ctx.find_object(Client)
    if found is None:
        raise OpenKMSError(
            _("no store directory was given"),
            fix=_(
                "Give it before the command: 'openkms client --store DIR COMMAND' (or set "
                "OPENKMS_STORE)."
            ),
        )
    return found


@client.command()
@click.argument("key")
@click.option("--trust", "trust_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--publisher-key",
    metavar="okpk1:...",
    help="The publisher's public key ('openkms publisher key DIR'): a trust signed by another "
    "key is refused (0xE0040021); pinned at the first install.",
)
@click.pass_context
def ipk(ctx: click.Context, key: str, trust_file: Path | None, publisher_key: str | None) -> None:
    """Install a setup key or a MAK (--trust the publisher's trust.json, the first time)."""
    trust = Trust.from_json(read_bytes(trust_file, "trust file")) if trust_file else None
    c = _client(ctx)
    if publisher_key is not None:
        c = dataclasses.replace(c, publisher_key=parse_publisher_key(publisher_key))
    product = c.install_key(key, trust)
    click.echo(_("Installed product key for {product} successfully.").format(product=product.name))


@client.command()
@click.pass_context
def upk(ctx: click.Context) -> None:
    """Uninstall the product key."""
    _client(ctx).uninstall_key()
    click.echo(_("Uninstalled product key successfully."))


@client.command()
@click.pass_context
def cpky(ctx: click.Context) -> None:
    """Clear the product key's text from the store (the partial key stays)."""
    _client(ctx).clear_key_text()
    click.echo(_(CLEARED_MESSAGE))


def _report(outcome: AttemptOutcome) -> None:
    if outcome.activated and outcome.count is None:  # a MAK: the publisher, no count
        click.echo(_("Product activated successfully (MAK, {host}).").format(host=outcome.host))
        return
    if outcome.activated:
        click.echo(
            _("Product activated successfully (current count {count}, {host}).").format(
                count=outcome.count, host=outcome.host
            )
        )
        return
    raise ActivationError(outcome.message, code=outcome.result, fix=outcome.fix)


@client.command()
@click.pass_context
def ato(ctx: click.Context) -> None:
    """Activate now."""
    click.echo(_("Activating..."))
    _report(_client(ctx).activate())


@client.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def dli(ctx: click.Context, as_json: bool) -> None:
    """Display license information."""
    info = gather_client_info(_client(ctx))
    echo_json(info) if as_json else click.echo(client_text(info))


@client.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def dlv(ctx: click.Context, as_json: bool) -> None:
    """Display detailed license information."""
    info = gather_client_info(_client(ctx))
    echo_json(info) if as_json else click.echo(client_text(info, verbose=True))


@client.command()
@click.pass_context
def xpr(ctx: click.Context) -> None:
    """Display when the activation expires."""
    click.echo(xpr_text(gather_client_info(_client(ctx))))


@client.command()
@click.argument("address")
@click.pass_context
def skms(ctx: click.Context, address: str) -> None:
    """Set the KMS host by hand: NAME[:PORT], IPv4[:PORT] or [IPv6]:PORT (discovery off)."""
    c = _client(ctx)
    c.set_kms(address)
    state = c.state()
    click.echo(
        _("Key Management Service machine name set to {host} successfully.").format(
            host=state.registered_host
        )
    )
    if state.kms_domain:
        click.echo(
            _("Warning: the SRV lookup domain {domain} is ignored while skms is set.").format(
                domain=state.kms_domain
            )
        )


@client.command()
@click.pass_context
def ckms(ctx: click.Context) -> None:
    """Clear the KMS host set by hand (back to DNS discovery; cache cleared)."""
    _client(ctx).set_kms(None)
    click.echo(_("Key Management Service machine name cleared successfully."))


@client.command("skms-domain")
@click.argument("domain")
@click.pass_context
def skms_domain(ctx: click.Context, domain: str) -> None:
    """Set the domain in which to look up the SRV record."""
    c = _client(ctx)
    c.set_kms_domain(domain)
    click.echo(
        _("Key Management Service lookup domain set to {domain} successfully.").format(
            domain=domain
        )
    )
    if c.state().registered_host:
        click.echo(_("Warning: skms is set; the lookup domain is ignored until ckms."))


@client.command("ckms-domain")
@click.pass_context
def ckms_domain(ctx: click.Context) -> None:
    """Clear the SRV lookup domain (back to the DNS search list)."""
    _client(ctx).set_kms_domain(None)
    click.echo(_("Key Management Service lookup domain cleared successfully."))


@client.command()
@click.pass_context
def skhc(ctx: click.Context) -> None:
    """Enable KMS host caching."""
    _client(ctx).set_host_caching(True)
    click.echo(_("KMS host caching is enabled."))


@client.command()
@click.pass_context
def ckhc(ctx: click.Context) -> None:
    """Disable KMS host caching."""
    _client(ctx).set_host_caching(False)
    click.echo(_("KMS host caching is disabled."))


@client.command()
@click.pass_context
def rearm(ctx: click.Context) -> None:
    """Reset the grace timer and the CMID (limited)."""
    _client(ctx).rearm()
    click.echo(_("Command completed successfully. The machine now has a new CMID."))


@client.command()
@click.option("--once", is_flag=True, help="One attempt, then exit.")
@click.option("--log-level", default="INFO", type=click.Choice(["DEBUG", "INFO", "WARNING"]))
@click.pass_context
def run(ctx: click.Context, once: bool, log_level: str) -> None:
    """Run the agent: retry every activation interval, renew every renewal interval."""
    setup_logging(log_level)
    c = _client(ctx)

    def show(outcome: AttemptOutcome, delay: int) -> None:
        click.echo(
            _("{code} {message} (next attempt in {minutes} minutes)").format(
                code=outcome.result.hex, message=outcome.message, minutes=delay
            )
        )

    async def main() -> AttemptOutcome:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        return await run_agent(c, once=once, stop=stop, on_attempt=show)

    outcome = asyncio.run(main())
    if once and not outcome.activated:
        raise ActivationError(outcome.message, code=outcome.result, fix=outcome.fix)


@client.command()
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--id", "event_ids", multiple=True, type=int, help="Only this event ID.")
@click.pass_context
def events(ctx: click.Context, fmt: str, event_ids: tuple[int, ...]) -> None:
    """Export the client's events (12288, 12289)."""
    records = [e for e in _client(ctx).events.read() if not event_ids or e.event_id in event_ids]
    for chunk in export_events(records, fmt, "Application"):
        click.echo(chunk, nl=False)


client.add_command(client_dti)
client.add_command(client_atp)
