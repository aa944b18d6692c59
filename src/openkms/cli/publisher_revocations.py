"""``openkms publisher block-key`` and ``revoke-host``: the records and the signed list."""

from __future__ import annotations

from pathlib import Path

import click

from openkms.publisher import Publisher
from openkms.publisher.records import DATABASE_ENV
from openkms.publisher.revocations import RevocationUpdate, block_key, revoke_host

__all__ = ["block_key_command", "revoke_host_command"]

_DIR = click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
_DATABASE = click.option(
    "--database",
    envvar=DATABASE_ENV,
    help=f"PostgreSQL DSN of the records (else {DATABASE_ENV}, else DIR/publisher.db).",
)
_REASON = click.option("--reason", default="", help="Why (carried in the signed list).")


@click.command("block-key")
@_DIR
@click.argument("key")
@_REASON
@_DATABASE
def block_key_command(directory: Path, key: str, reason: str, database: str | None) -> None:
    """Block a host key or MAK: recorded (the service refuses it, 0xC004C003) and published
    in the next signed revocation list (hosts certified under it stop serving)."""
    update = block_key(Publisher(directory, database=database), key, reason)
    if update.blocked is not None:
        click.echo(f"Blocked {update.blocked.kind.value} key {update.blocked.key}.")
    _echo_revocation(update, f"Key {key}")


@click.command("revoke-host")
@_DIR
@click.argument("host_id", metavar="HOST-ID")
@_REASON
@_DATABASE
def revoke_host_command(directory: Path, host_id: str, reason: str, database: str | None) -> None:
    """Revoke a host (fingerprint) or one certificate (serial): write the next list."""
    update = revoke_host(Publisher(directory, database=database), host_id, reason)
    _echo_revocation(update, f"Host {host_id}")


def _echo_revocation(update: RevocationUpdate, what: str) -> None:
    serial, count = update.revocations.serial, len(update.revocations.body.entries)
    if not update.added:
        click.echo(f"{what} is already in revocation list {serial}; nothing to do.")
        return
    click.echo(f"{what} revoked: revocation list {serial} ({count} entries) -> {update.path}")
    click.echo("Hosts fetch it from the publisher service or take it with 'install-revocations'.")
