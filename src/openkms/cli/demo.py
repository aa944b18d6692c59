"""``openkms demo``: a whole site on this machine, with a live display."""

from __future__ import annotations

import asyncio
import signal
import tempfile
from pathlib import Path

import click

from openkms.admin.config import AdminConfig
from openkms.i18n import N_, _
from openkms.sim.demo import DemoSite, Progress
from openkms.slmgr_text import host_text

__all__ = ["demo"]


def _bar(count: int, width: int = 25) -> str:
    filled = min(count, width)
    return "#" * filled + "." * (width - filled)


def _show(progress: Progress) -> None:
    outcome = progress.outcome
    count = outcome.count if outcome.count is not None else 0
    if outcome.activated:
        status = _("ACTIVATED")
    elif outcome.count is None:
        status = f"{outcome.result.hex} {outcome.message}"
    else:
        status = _("{code} waiting for count").format(code=outcome.result.hex)
    colour = "green" if outcome.activated else "yellow"
    row = _("round {round}  {machine} N={n} count [{bar}] {count}  ").format(
        round=progress.round,
        machine=f"{progress.machine:<11}",
        n=f"{progress.n_policy:<3}",
        bar=_bar(count),
        count=f"{count:>3}",
    )
    click.echo(row + click.style(status, fg=colour))


@click.command()
@click.option(
    "--clients",
    "desktops",
    default=24,
    show_default=True,
    type=click.IntRange(0, 500),
    help=N_("Desktop clients."),
)
@click.option(
    "--servers",
    default=6,
    show_default=True,
    type=click.IntRange(0, 500),
    help=N_("Server clients."),
)
@click.option(
    "--once", is_flag=True, help=N_("Exit after the run instead of serving until Ctrl-C.")
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help=N_("Where to keep the demo site (default: a temporary directory)."),
)
@click.option(
    "--port",
    default=0,
    show_default=True,
    type=click.IntRange(0, 65535),
    help=N_("Host port on 127.0.0.1 (0: any free port)."),
)
@click.option(
    "--admin",
    "admin_port",
    default=0,
    show_default=True,
    type=click.IntRange(0, 65535),
    help=N_("Dashboard port on 127.0.0.1 (0: any free port)."),
)
@click.option("--no-admin", is_flag=True, help=N_("No dashboard."))
def demo(
    desktops: int,
    servers: int,
    once: bool,
    directory: Path | None,
    port: int,
    admin_port: int,
    no_admin: bool,
) -> None:
    """Create a publisher, activate a host offline, serve on 127.0.0.1, activate clients."""
    admin = None if no_admin else AdminConfig("127.0.0.1", admin_port)
    with tempfile.TemporaryDirectory(prefix="openkms-demo-") as tmp:
        asyncio.run(_demo(directory or Path(tmp), desktops, servers, once, port, admin))


async def _demo(
    directory: Path,
    desktops: int,
    servers: int,
    once: bool,
    port: int,
    admin: AdminConfig | None,
) -> None:
    site = DemoSite(directory)
    click.echo(_("Publisher created in {path}").format(path=site.publisher.directory))
    site.activate_host()
    host, bound = await site.start_host(port, admin)
    listening = _("Host activated (license group C) and listening on {host}:{port}")
    click.echo(listening.format(host=host, port=bound))
    if site.app is not None and site.app.admin is not None:
        click.echo(_("Dashboard: {url}").format(url=site.app.admin.url))
    site.add_clients(desktops, servers)
    arrive = _("{desktops} desktop clients (N=25) and {servers} server clients (N=5) arrive:")
    click.echo(arrive.format(desktops=desktops, servers=servers) + "\n")
    try:
        for number in (1, 2):
            await site.run_round(number, _show)
            if all(c.activated for c in site.clients):
                break
            click.echo("\n" + _("Next activation attempt of the waiting clients:") + "\n")
        activated = sum(c.activated for c in site.clients)
        done = _("{activated} of {total} clients activated.")
        click.echo("\n" + done.format(activated=activated, total=len(site.clients)) + "\n")
        click.echo(host_text(await site.host_info()))
        if not once:
            serving = _("Serving on {host}:{port}; Ctrl-C to stop.")
            click.echo("\n" + serving.format(host=host, port=bound))
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            await stop.wait()
    finally:
        await site.stop()
