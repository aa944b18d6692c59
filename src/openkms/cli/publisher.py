"""``openkms publisher`` (alias ``openkms vendor``): the publisher's tools."""

from __future__ import annotations

from pathlib import Path

import click

from openkms._files import atomic_write, read_bytes
from openkms.cli._common import OpenKMSGroup, echo_json
from openkms.core.keys import ProductKey
from openkms.publisher import Publisher
from openkms.publisher.revocations import RevocationUpdate, block_key, revoke_host

__all__ = ["publisher", "vendor"]

_DIR = click.argument("directory", type=click.Path(file_okay=False, path_type=Path))


@click.group(cls=OpenKMSGroup)
def publisher() -> None:
    """Publisher tools: root key, catalog, setup keys, host keys, host activation.

    'openkms vendor' is an alias of this group.
    """


@publisher.command()
@_DIR
@click.option("--name", default="Acme Analytics", show_default=True, help="Publisher name.")
def init(directory: Path, name: str) -> None:
    """Create a publisher: root key (0600), catalog.toml and trust.json."""
    created = Publisher.init(directory, name)
    click.echo(f"Publisher {name!r} created in {directory}")
    click.echo(f"  root key   {directory / 'root.key'} (keep it offline)")
    click.echo(f"  catalog    {directory / 'catalog.toml'} (edit, then sign-catalog)")
    click.echo(f"  trust      {directory / 'trust.json'} (give to hosts and clients)")
    click.echo(f"  publisher  {created.trust().publisher_id}")
    click.echo(f"  key        {created.public_key_text()}")
    click.echo("Pin the key in the application: Client.open(directory, publisher_key=KEY)")


@publisher.command()
@_DIR
def key(directory: Path) -> None:
    """Print the publisher key (okpk1:...) that applications pin in Client.open."""
    click.echo(Publisher(directory).public_key_text())


@publisher.command("sign-catalog")
@_DIR
def sign_catalog(directory: Path) -> None:
    """Validate catalog.toml and sign it into trust.json."""
    trust = Publisher(directory).sign_catalog()
    click.echo(
        f"Catalog signed: {len(trust.catalog.products)} products -> {directory / 'trust.json'}"
    )


@publisher.command("setup-keys")
@_DIR
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def setup_keys(directory: Path, as_json: bool) -> None:
    """The setup-key table (the published client keys of every edition)."""
    products = Publisher(directory).setup_keys()
    rows = [
        {
            "product": p.product,
            "edition": p.edition,
            "group": p.group,
            "n_policy": p.n_policy,
            "setup_key": str(_key(p.setup_key)),
        }
        for p in products
    ]
    if as_json:
        echo_json(rows)
        return
    click.echo(f"{'Product':<14} {'Edition':<22} {'Group':<8} {'N':>3}  Setup key")
    for row in rows:
        click.echo(
            f"{row['product']:<14} {row['edition']:<22} {row['group']:<8} "
            f"{row['n_policy']:>3}  {row['setup_key']}"
        )


def _key(symbols: str) -> str:
    return str(ProductKey(symbols))


@publisher.command("issue-host-key")
@_DIR
@click.option("--group", required=True, help="License group of the key (e.g. desktop, A, B, C).")
def issue_host_key(directory: Path, group: str) -> None:
    """Print a new host key for a license group, and record it."""
    click.echo(str(Publisher(directory).issue_host_key(group)))


@publisher.command("activate-host")
@_DIR
@click.argument("request", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--days", type=click.IntRange(1, 36500), default=None, help="Certificate validity.")
def activate_host(directory: Path, request: Path, output: Path, days: int | None) -> None:
    """Offline host activation: verify REQUEST, enforce key limits, write a certificate."""
    data = Publisher(directory).activate_host(read_bytes(request, "activation request"), days)
    atomic_write(output, data)
    click.echo(f"Host certificate written to {output}")


_REASON = click.option("--reason", default="", help="Why (carried in the signed list).")


@publisher.command("block-key")
@_DIR
@click.argument("key")
@_REASON
def block_key_command(directory: Path, key: str, reason: str) -> None:
    """Block a host key or MAK: write the next signed revocation list."""
    _echo_revocation(block_key(Publisher(directory), key, reason), f"Key {key}")


@publisher.command("revoke-host")
@_DIR
@click.argument("host_id", metavar="HOST-ID")
@_REASON
def revoke_host_command(directory: Path, host_id: str, reason: str) -> None:
    """Revoke a host (fingerprint) or one certificate (serial): write the next list."""
    _echo_revocation(revoke_host(Publisher(directory), host_id, reason), f"Host {host_id}")


def _echo_revocation(update: RevocationUpdate, what: str) -> None:
    serial, count = update.revocations.serial, len(update.revocations.body.entries)
    if not update.added:
        click.echo(f"{what} is already in revocation list {serial}; nothing to do.")
        return
    click.echo(f"{what} revoked: revocation list {serial} ({count} entries) -> {update.path}")
    click.echo("Hosts fetch it from the publisher service or take it with 'install-revocations'.")


vendor = OpenKMSGroup(
    "vendor",
    commands=publisher.commands,
    help="Alias of 'openkms publisher'.",
    hidden=True,
)
