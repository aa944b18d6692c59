"""``openkms publisher block-key`` and ``revoke-host``: the records and the signed list."""

from __future__ import annotations

from pathlib import Path

import click

from openkms.i18n import _
from openkms.publisher import Publisher
from openkms.publisher.records import DATABASE_ENV
from openkms.publisher.revocations import (
    PhoneHostRevocation,
    RevocationUpdate,
    block_key,
    revoke_named,
)

__all__ = ["block_key_command", "revoke_host_command"]

_DIR = click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
_DATABASE = click.option(
    "--database",
    envvar=DATABASE_ENV,
    help="PostgreSQL DSN of the records (else OPENKMS_PUBLISHER_DATABASE, else DIR/publisher.db).",
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
        click.echo(
            _("Blocked {kind} key {key}.").format(
                kind=update.blocked.kind.value, key=update.blocked.key
            )
        )
    _echo_revocation(update, _("Key {key}").format(key=key))


@click.command("revoke-host")
@_DIR
@click.argument("host_id", metavar="HOST-ID")
@_REASON
@_DATABASE
def revoke_host_command(directory: Path, host_id: str, reason: str, database: str | None) -> None:
    """Revoke a host (its ID OKMS-XXXXXXXXXXXX, its fingerprint or its phone reference
    phone:HEX) or one certificate (serial): write the next list.

    An OKMS- ID (any case, with its prefix) is looked up in the records of the hosts this
    publisher activated; one that names no host, or several, revokes nothing. A host known
    only by its phone reference cannot be named in the list: the publisher refuses it any
    new activation from then on.
    """
    update = revoke_named(Publisher(directory, database=database), host_id, reason)
    if isinstance(update, PhoneHostRevocation):
        _echo_phone(update)
        return
    what = _("Host {id}").format(id=host_id)
    if update.host is not None:
        what = _("Host {id} (fingerprint {fingerprint})").format(
            id=update.host.host_id, fingerprint=update.host.fingerprint
        )
    _echo_revocation(update, what)


def _echo_phone(done: PhoneHostRevocation) -> None:
    if done.update is not None and done.update.host is not None:
        what = _("Host {reference} (fingerprint {fingerprint})").format(
            reference=done.reference, fingerprint=done.update.host.fingerprint
        )
        _echo_revocation(done.update, what)
        return
    if not done.added:
        click.echo(
            _("Host {reference} is already refused; nothing to do.").format(
                reference=done.reference
            )
        )
        return
    click.echo(
        _(
            "Host {reference} (activated by phone only) is refused from now on: the "
            "publisher will not certify it again, online or by phone (0xC004C003)."
        ).format(reference=done.reference)
    )
    click.echo(
        _(
            "The revocation list is unchanged: its installation ID carries no fingerprint. "
            "To stop it serving now, revoke its fingerprint (the Installation ID of its "
            "'dli') too, or block its host key ('block-key')."
        )
    )


def _echo_revocation(update: RevocationUpdate, what: str) -> None:
    serial, count = update.revocations.serial, len(update.revocations.body.entries)
    if not update.added:
        click.echo(
            _("{what} is already in revocation list {serial}; nothing to do.").format(
                what=what, serial=serial
            )
        )
        return
    click.echo(
        _("{what} revoked: revocation list {serial} ({count} entries) -> {path}").format(
            what=what, serial=serial, count=count, path=update.path
        )
    )
    if update.dropped:
        click.echo(
            _("{count} entries past their certificates' life left the list.").format(
                count=len(update.dropped)
            )
        )
    click.echo(
        _("Hosts fetch it from the publisher service or take it with 'install-revocations'.")
    )
