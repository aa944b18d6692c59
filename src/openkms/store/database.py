"""Which database a host uses: its SQLite file by default, or a shared PostgreSQL DSN.

The DSN comes from ``--database``, else the ``OPENKMS_DATABASE`` environment variable; the
hosts of a site that share one count all name the same database.
"""

from __future__ import annotations

import os
from typing import Final
from urllib.parse import urlsplit

import msgspec

from openkms.core.codes import ResultCode
from openkms.errors import StoreError

__all__ = ["DATABASE_ENV", "PeerHost", "resolve_database"]

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
            f"unsupported database {dsn.split('://', 1)[0]!r}: only PostgreSQL can be shared",
            code=ResultCode.INVALID_ARGUMENT,
            fix="Give a DSN like postgresql://user@db.example.com/openkms, or none for the "
            "host's own SQLite file.",
        )
    return dsn
