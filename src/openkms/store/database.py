"""Which database a host uses: its SQLite file by default, or a shared PostgreSQL DSN.

The DSN comes from ``--database``, else the ``OPENKMS_DATABASE`` environment variable; the
hosts of a site that share one count all name the same database.
"""

from __future__ import annotations

import os
from typing import Final, Literal
from urllib.parse import urlsplit

import msgspec

from openkms.core.codes import ResultCode
from openkms.errors import StoreError
from openkms.i18n import N_, _

__all__ = ["DATABASE_ENV", "PeerHost", "refuse_shared_database", "resolve_database"]

DATABASE_ENV: Final = "OPENKMS_DATABASE"
_SCHEMES: Final = ("postgresql", "postgres")


class PeerHost(msgspec.Struct, frozen=True):
    """A host that writes to a shared database, as its requests show it."""

    host_id: str
    first_request: int
    last_request: int


def resolve_database(database: str | None) -> str | None:
    """The DSN to use (``database``, else ``$OPENKMS_DATABASE``); None for the SQLite file.

    Raises StoreError for a DSN that is not ``postgresql://...``.
    """
    dsn = database if database else os.environ.get(DATABASE_ENV, "")
    if not dsn:
        return None
    if urlsplit(dsn).scheme not in _SCHEMES:
        raise StoreError(
            _("unsupported database {scheme!r}: only PostgreSQL can be shared").format(
                scheme=dsn.split("://", 1)[0]
            ),
            code=ResultCode.INVALID_ARGUMENT,
            fix=_(
                "Give a DSN like postgresql://user@db.example.com/openkms, or none for the "
                "host's own SQLite file."
            ),
        )
    return dsn


# What replaces each SQLite-only store operation on a shared database.
_POSTGRES_WAY: Final = {
    "backup": N_(
        "Back up the shared database with pg_dump (pg_dump -Fc -d DSN -f openkms.dump) "
        "while the hosts run, and each host's store directory (host.key, certificate.json, "
        "trust.json, host.json) with your file backups; see docs/operations.md."
    ),
    "restore": N_(
        "Restore the shared database with pg_restore into an empty database (stop "
        "every host of the site first: pg_restore -d DSN openkms.dump); see docs/operations.md."
    ),
}


def refuse_shared_database(database: str | None, operation: Literal["backup", "restore"]) -> None:
    """Raise StoreError when the store is a shared PostgreSQL database (``database``, else
    ``$OPENKMS_DATABASE``): ``operation`` ("backup", "restore") works on the SQLite file."""
    if resolve_database(database) is None:
        return
    raise StoreError(
        _(
            "'host {operation}' works on the host's own SQLite file, but this host's "
            "store is a shared PostgreSQL database"
        ).format(operation=operation),
        code=ResultCode.INVALID_ARGUMENT,
        fix=_(_POSTGRES_WAY[operation]),
    )
