"""``openkms doctor``: a thin click group over the doctor library.

The main CLI registers it with ``main.add_command(doctor)``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from openkms.cli._common import fail
from openkms.core import settings
from openkms.dns.srv import parse_server
from openkms.doctor.events._read import check_event_files
from openkms.doctor.explain import explain
from openkms.doctor.findings import Finding, Report
from openkms.doctor.network.dnscheck import DnsCheckOptions, check_dns
from openkms.doctor.network.portcheck import check_port
from openkms.doctor.slmgr import check_slmgr_files
from openkms.doctor.stores._hoststore import store_problem
from openkms.doctor.stores.bundle import store_kind, write_bundle
from openkms.doctor.stores.clientcheck import ClientCheckOptions, check_client_store
from openkms.doctor.stores.hostcheck import HostCheckOptions, check_host_store
from openkms.errors import OpenKMSError
from openkms.i18n import _

__all__ = ["doctor"]

_FILES = click.argument(
    "files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False)
)
_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON for programs.")


def _fail(exc: OpenKMSError) -> NoReturn:
    """Print an error with the one printer of every command; the doctor's exit code is 2."""
    fail(exc, exit_code=2)


@click.group()
def doctor() -> None:
    """Troubleshoot activation step by step, from saved Windows or OpenKMS artefacts."""


def _run(
    check: Callable[[Sequence[Path]], list[Finding]], files: Sequence[Path], as_json: bool
) -> None:
    report = Report(check(files))
    click.echo(report.to_json() if as_json else report.render_text())
    raise SystemExit(report.exit_code)


@doctor.command("explain", context_settings={"ignore_unknown_options": True})
@click.argument("code")
@_JSON
def explain_command(code: str, as_json: bool) -> None:
    """Explain a result code, like 'slui 0x2a CODE': meaning, fix, checks to run."""
    try:
        result = explain(code)
    except OpenKMSError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps({f: getattr(result, f) for f in result.__struct_fields__}))
    else:
        click.echo(result.render_text())
    raise SystemExit(0)


@doctor.command("slmgr")
@_FILES
@_JSON
def slmgr_command(files: tuple[Path, ...], as_json: bool) -> None:
    """Check saved slmgr /dli, /dlv or /ato output: labels EN/FR/DE/ES, codes in any language."""
    _run(check_slmgr_files, files, as_json)


@doctor.command("events")
@_FILES
@_JSON
def events_command(files: tuple[Path, ...], as_json: bool) -> None:
    """Check exported KMS events: EVTX, wevtutil XML, Event Viewer CSV or text, OpenKMS."""
    _run(check_event_files, files, as_json)


_STORE = click.option(
    "--store",
    "store_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The machine's store directory.",
)
_TIMEOUT = click.option(
    "--timeout",
    default=3.0,
    show_default=True,
    type=click.FloatRange(0.05, 60),
    help="Seconds to wait for each connection or DNS query.",
)
_DNS_SERVER = click.option(
    "--dns-server",
    "dns_servers",
    multiple=True,
    help="DNS server ADDR[:PORT] (default: resolv.conf).",
)
_SEARCH = click.option(
    "--search-domain",
    "search_domains",
    multiple=True,
    help="DNS search domain (default: this machine's search list).",
)


def _report(findings: Coroutine[Any, Any, list[Finding]], as_json: bool) -> None:
    """Run the checks, print the report, exit 0/1/2; bad arguments are 'Error:' lines."""
    try:
        report = Report(asyncio.run(findings))
    except OpenKMSError as exc:
        _fail(exc)
    click.echo(report.to_json() if as_json else report.render_text())
    raise SystemExit(report.exit_code)


def _servers(values: tuple[str, ...]) -> tuple[Any, ...]:
    try:
        return tuple(parse_server(v) for v in values)
    except OpenKMSError as exc:
        raise click.BadParameter(exc.message, param_hint="--dns-server") from None


@doctor.command("host")
@_STORE
@click.option("--address", help="HOST[:PORT] the host listens on (default: 127.0.0.1, its port).")
@_TIMEOUT
@click.option(
    "--days",
    default=settings.COUNT_WINDOW_DAYS,
    show_default=True,
    type=click.IntRange(1, 3650),
    help="Days of events to read.",
)
@_JSON
def host_command(
    store_dir: Path, address: str | None, timeout: float, days: int, as_json: bool
) -> None:
    """Check a KMS host from its store: key, activation, listening, count, failures, DNS."""
    options = HostCheckOptions(address=address, timeout=timeout, days=days)
    _report(check_host_store(store_dir, options), as_json)


def _client_options(
    timeout: float,
    dns_servers: tuple[str, ...],
    search_domains: tuple[str, ...],
    service: str | None,
) -> ClientCheckOptions:
    return ClientCheckOptions(
        timeout=timeout,
        nameservers=_servers(dns_servers),
        search_domains=search_domains or None,
        service=service,
        dns_timeout=timeout,
    )


@doctor.command("client")
@_STORE
@_TIMEOUT
@_DNS_SERVER
@_SEARCH
@click.option("--service", help="SRV service to look up (default: the catalog's).")
@_JSON
def client_command(
    *,
    store_dir: Path,
    timeout: float,
    dns_servers: tuple[str, ...],
    search_domains: tuple[str, ...],
    service: str | None,
    as_json: bool,
) -> None:
    """Check a KMS client from its store: key, license, host reachable, clock, events."""
    options = _client_options(timeout, dns_servers, search_domains, service)
    _report(check_client_store(store_dir, options), as_json)


@doctor.command("dns")
@click.argument("domain", required=False)
@click.option(
    "--service", default=settings.SRV_SERVICE, show_default=True, help="The OpenKMS SRV service."
)
@_DNS_SERVER
@_SEARCH
@_TIMEOUT
@click.option("--no-probe", is_flag=True, help="Only TCP-connect to OpenKMS targets.")
@click.option(
    "--store",
    "store_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="A host's store: SRV hosts sharing its database count together.",
)
@click.option("--database", help="The shared PostgreSQL DSN of --store (or OPENKMS_DATABASE).")
@_JSON
def dns_command(
    *,
    domain: str | None,
    service: str,
    dns_servers: tuple[str, ...],
    search_domains: tuple[str, ...],
    timeout: float,
    no_probe: bool,
    store_dir: Path | None,
    database: str | None,
    as_json: bool,
) -> None:
    """SRV records of OpenKMS and _vlmcs._tcp: targets, ports, several hosts, search list."""
    options = DnsCheckOptions(
        domain=domain,
        service=service,
        nameservers=_servers(dns_servers),
        search_domains=search_domains or None,
        timeout=timeout,
        probe=not no_probe,
        store_dir=store_dir,
        database=database,
    )
    _report(check_dns(options), as_json)


@doctor.command("port")
@click.argument("address")
@_TIMEOUT
@click.option("--application-id", default="", help="Application whose count to ask for.")
@_JSON
def port_command(address: str, timeout: float, application_id: str, as_json: bool) -> None:
    """The telnet test on HOST[:PORT] (1688 by default), then an uncounted OpenKMS probe."""
    _report(check_port(address, timeout=timeout, application_id=application_id), as_json)


async def _store_findings(store_dir: Path, address: str | None, timeout: float) -> list[Finding]:
    kind = store_kind(store_dir)
    if kind == "host":
        return await check_host_store(store_dir, HostCheckOptions(address=address, timeout=timeout))
    if kind == "client":
        return await check_client_store(
            store_dir, ClientCheckOptions(timeout=timeout, dns_timeout=timeout)
        )
    return [
        store_problem(
            store_dir,
            "not-a-store",
            _("neither a host store (host.json) nor a client store (client.json)"),
        )
    ]


@doctor.command("bundle")
@_STORE
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The zip file to write.",
)
@click.option("--address", help="HOST[:PORT] a host listens on (default: 127.0.0.1, its port).")
@_TIMEOUT
def bundle_command(store_dir: Path, output: Path, address: str | None, timeout: float) -> None:
    """What support asks for in one zip: dlv, the event log, the doctor report."""
    try:
        report = Report(asyncio.run(_store_findings(store_dir, address, timeout)))
        names = write_bundle(store_dir, output, report)
    except OpenKMSError as exc:
        _fail(exc)
    except OSError as exc:
        _fail(
            OpenKMSError(
                _("cannot write {path}: {reason}").format(path=output, reason=exc.strerror or exc),
                fix=_("Choose a writable path for --output, on a disk with free space."),
            )
        )
    click.echo(_("Wrote {path}: {files}").format(path=output, files=", ".join(names)))
    summary = report.render_text().splitlines()[-1]
    click.echo(_("Doctor report: {summary}").format(summary=summary))
