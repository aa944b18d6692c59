"""``openkms demo``: a whole site on this machine, with a live display."""

from __future__ import annotations

import asyncio
import signal
import tempfile
from pathlib import Path

import click

from openkms.admin.config import AdminConfig
from openkms.sim.demo import DemoSite, Progress
from openkms.slmgr_text import host_text

__all__ = ["demo"]


def _bar(count: int, width: int = 25) -> str:
    filled = min(count, width)
    return "#" * filled + "." * (width - filled)


def _show(progress: Progress) -> None:
    outcome = progress.outcome
    count = outcome.count if outcome.count is not None else 0
    status = "ACTIVATED" if outcome.activated else f"{outcome.result.hex} waiting for count"
    if not outcome.activated and outcome.count is None:
        status = f"{outcome.result.hex} {outcome.message}"
    colour = "green" if outcome.activated else "yellow"
    click.echo(
        f"round {progress.round}  {progress.machine:<11} N={progress.n_policy:<3} "
        f"count [{_bar(count)}] {count:>3}  " + click.style(status, fg=colour)
    )


@click.command()
@click.option(
    "--clients",
    "desktops",
    default=24,
    show_default=True,
    type=click.IntRange(0, 500),
    help="Desktop clients.",
)
@click.option(
    "--servers", default=6, show_default=True, type=click.IntRange(0, 500), help="Server clients."
)
@click.option("--once", is_flag=True, help="Exit after the run instead of serving until Ctrl-C.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to keep the demo site (default: a temporary directory).",
)
@click.option(
    "--port",
    default=0,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Host port on 127.0.0.1 (0: any free port).",
)
@click.option(
    "--admin",
    "admin_port",
    default=0,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Dashboard port on 127.0.0.1 (0: any free port).",
)
@click.option("--no-admin", is_flag=True, help="No dashboard.")
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
    click.echo(f"Publisher created in {site.publisher.directory}")
    site.activate_host()
    host, bound = await site.start_host(port, admin)
    click.echo(f"Host activated (license group C) and listening on {host}:{bound}")
    if site.app is not None and site.app.admin is not None:
        click.echo(f"Dashboard: {site.app.admin.url}")
    site.add_clients(desktops, servers)
    click.echo(f"{desktops} desktop clients (N=25) and {servers} server clients (N=5) arrive:\n")
    try:
        for number in (1, 2):
            await site.run_round(number, _show)
            if all(c.activated for c in site.clients):
                break
            click.echo("\nNext activation attempt of the waiting clients:\n")
        activated = sum(c.activated for c in site.clients)
        click.echo(f"\n{activated} of {len(site.clients)} clients activated.\n")
        click.echo(host_text(await site.host_info()))
        if not once:
            click.echo(f"\nServing on {host}:{bound}; Ctrl-C to stop.")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            await stop.wait()
    finally:
        await site.stop()
