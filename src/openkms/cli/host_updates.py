"""``openkms host install-revocations | install-trust | fetch-updates``: newer publisher files."""

from __future__ import annotations

from pathlib import Path

import click

from openkms._files import read_bytes
from openkms.cli._common import host_state
from openkms.host.revocations import (
    Installed,
    fetch_updates,
    install_revocations,
    install_trust,
    require_update_url,
)
from openkms.i18n import N_, _

__all__ = ["fetch_updates_command", "install_revocations_command", "install_trust_command"]

# Installed.what -> the sentence (whole sentences: French and German agree them by gender).
_INSTALLED = {
    "revocation list": N_("Installed revocation list {serial}. A serving host takes it at once."),
    "catalog": N_("Installed catalog {serial}. A serving host takes it at once."),
}
_ALREADY = {
    "revocation list": N_("The revocation list {serial} is already installed; nothing to do."),
    "catalog": N_("The catalog {serial} is already installed; nothing to do."),
}
_GENERIC = {
    True: "Installed {what} {serial}. A serving host takes it at once.",
    False: "The {what} {serial} is already installed; nothing to do.",
}

_FILE = click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))


@click.command("install-revocations")
@_FILE
@click.pass_context
def install_revocations_command(ctx: click.Context, file: Path) -> None:
    """Install the publisher's revocation list (revocations.json) if it is newer."""
    data = read_bytes(file, "revocation list")
    _echo(install_revocations(host_state(ctx), data, str(file)))


@click.command("install-trust")
@_FILE
@click.pass_context
def install_trust_command(ctx: click.Context, file: Path) -> None:
    """Install the publisher's trust.json if its catalog is newer (same publisher)."""
    _echo(install_trust(host_state(ctx), read_bytes(file, "trust file"), str(file)))


@click.command("fetch-updates")
@click.option(
    "--publisher-url", help="The publisher service (default: the catalog's publisher URL)."
)
@click.pass_context
def fetch_updates_command(ctx: click.Context, publisher_url: str | None) -> None:
    """Fetch the latest revocation list and catalog from the publisher service."""
    state = host_state(ctx)
    results = fetch_updates(state, require_update_url(state, publisher_url))
    if not results:
        click.echo(_("The publisher service has no revocation list or catalog to give."))
    for result in results:
        _echo(result)


def _echo(result: Installed) -> None:
    messages = _INSTALLED if result.replaced else _ALREADY
    message = messages.get(result.what)
    if message is None:  # a kind of file this table does not know yet: English
        message = _GENERIC[result.replaced].replace("{what}", result.what)
    click.echo(_(message).format(serial=result.serial))
