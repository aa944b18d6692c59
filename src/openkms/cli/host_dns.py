"""``openkms host dns-config`` and ``host unpublish``: the host's DNS publishing."""

from __future__ import annotations

import asyncio

import click
import msgspec

from openkms.cli._common import echo_json, host_state
from openkms.core.codes import ResultCode
from openkms.core.host_settings import check_setting
from openkms.dns.publisher import DnsPublisher, PublishConfig
from openkms.errors import DnsError
from openkms.host.publishing import publish_config
from openkms.i18n import DEFAULT_LANGUAGE, _, current_language
from openkms.localformat import format_number

__all__ = ["dns_config", "unpublish"]


def _check_service(value: str | None) -> str | None:
    service: str | None = check_setting("dns_service", value)
    return service


def _changes(options: dict[str, object]) -> dict[str, object]:
    """The HostSettings fields to change ('' clears a name; HostSettings checks the values)."""
    changes: dict[str, object] = {}
    simple = ("ttl", "republish_hours", "priority", "weight", "publish_addresses", "timeout")
    for name in (*simple, "domain", "target", "tsig_key_file", "service"):
        if options[name] is not None:
            changes[f"dns_{name}"] = options[name]
    lists = (("publish_list", "publish_list"), ("server", "servers"), ("address", "addresses"))
    for option, name in lists:
        values = options[option]
        assert isinstance(values, tuple)
        if values or options[f"clear_{option}"]:
            changes[f"dns_{name}"] = list(values)
    return changes


def _show(config: PublishConfig) -> None:
    click.echo(_("DNS publishing: enabled") if config.enabled else _("DNS publishing: disabled"))
    click.echo(
        _("Record: {service} SRV -> {target}:{port} TTL {ttl}").format(
            service=config.service, target=config.target, port=config.port, ttl=config.ttl
        )
    )
    for entry in config.domains:
        click.echo(
            _("    domain {domain} (priority {priority}, weight {weight})").format(
                domain=entry.domain, priority=entry.priority, weight=entry.weight
            )
        )
    for problem in config.problems:
        click.echo(_("    warning: {problem}").format(problem=problem))
    servers = ", ".join(str(s) for s in config.servers) or _("none (0x8007267C)")
    click.echo(_("DNS servers: {servers}").format(servers=servers))
    tsig = config.tsig_key_file or _("none (unsigned updates)")
    click.echo(_("TSIG key file: {path}").format(path=tsig))
    if config.addresses:
        click.echo(_("Address records: {addresses}").format(addresses=", ".join(config.addresses)))
    click.echo(_("Republish every {hours} hours").format(hours=_hours(config.republish_seconds)))


def _hours(seconds: float) -> str:
    """Hours as English always printed them (``1.5``, ``24``); ``1,5`` in French or German."""
    text = f"{seconds / 3600:g}"
    if current_language() == DEFAULT_LANGUAGE or "e" in text:
        return text
    return format_number(seconds / 3600, len(text.partition(".")[2]))


@click.command("dns-config")
@click.option("--domain", help="The host's own domain ('' = from the target's FQDN).")
@click.option("--publish-list", multiple=True, help="'domain[,priority[,weight]]' (repeatable).")
@click.option("--clear-publish-list", is_flag=True, help="Empty the publish list.")
@click.option("--server", multiple=True, help="DNS server ADDR[:PORT] (repeatable).")
@click.option("--clear-server", is_flag=True, help="Use the resolver's servers (resolv.conf).")
@click.option("--tsig-key-file", help="BIND key file (HMAC-SHA256); '' = unsigned updates.")
@click.option("--ttl", type=int, help="Record TTL in seconds.")
@click.option("--republish-hours", type=float, help="Republish interval.")
@click.option("--target", help="SRV target name ('' = this machine's FQDN).")
@click.option("--priority", type=int, help="SRV priority.")
@click.option("--weight", type=int, help="SRV weight.")
@click.option("--publish-addresses/--no-publish-addresses", default=None, help="A/AAAA too.")
@click.option("--address", multiple=True, help="Address for the A/AAAA (repeatable).")
@click.option("--clear-address", is_flag=True, help="Publish the listen addresses.")
@click.option("--service", help="SRV service, e.g. _openkms._tcp ('' = the catalog's).")
@click.option("--timeout", type=float, help="Seconds per DNS exchange.")
@click.option("--json", "as_json", is_flag=True, help="Print the settings as JSON.")
@click.pass_context
def dns_config(ctx: click.Context, /, as_json: bool, **options: object) -> None:
    """Show or change how the host publishes itself in DNS (RFC 2136)."""
    state = host_state(ctx)
    changes = _changes(options)
    if changes:
        state.update_settings(**changes)
    if as_json:
        fields = msgspec.structs.asdict(state.settings)
        echo_json({k: v for k, v in fields.items() if k.startswith("dns_")})
        return
    _show(publish_config(state))


@click.command()
@click.option("--service", help="SRV service to remove from (default: as published).")
@click.pass_context
def unpublish(ctx: click.Context, service: str | None) -> None:
    """Remove this host's own SRV (and A/AAAA) records from every publish domain."""
    state = host_state(ctx)
    config = publish_config(state, service=_check_service(service))
    results = asyncio.run(DnsPublisher(_no_event).unpublish(config))
    failed = [r for r in results if r.result != ResultCode.OK.hex]
    for result in results:
        click.echo(
            _("{domain}: {code} {message}").format(
                domain=result.domain, code=result.result, message=result.message
            )
        )
    if config.enabled:
        click.echo(_("Note: DNS publishing is still enabled; run 'cdns' to stop republishing."))
    if failed:
        raise DnsError(
            _("{domain}: {message}").format(domain=failed[0].domain, message=failed[0].message),
            code=ResultCode(int(failed[0].result, 16)),
        )


async def _no_event(_: object) -> None:
    """Removing records logs no event (12293/12294 are about publishing)."""
