"""The revocation list in a host's store directory (``revocations.json``), read.

Writing it (``install-revocations``, the online fetch) is :mod:`openkms.host.revocations`.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Final

from openkms._files import read_bytes
from openkms.core.revocation import RevocationEntry, RevocationList
from openkms.core.trust import Trust
from openkms.errors import OpenKMSError
from openkms.i18n import _

__all__ = ["REVOCATIONS_FILE", "parse_revocations", "read_revocations", "revoked_problem"]

log = logging.getLogger("openkms.host")

REVOCATIONS_FILE: Final = "revocations.json"


def parse_revocations(data: bytes, trust: Trust, source: str) -> RevocationList:
    """A list as a file (``revocations.json``) or as the service sends it (the encoded
    envelope), verified against the host's trust; OpenKMSError (0xE004000B) if not."""
    key, application = trust.publisher_key, trust.catalog.application_id
    if data.lstrip()[:1] == b"{":
        return RevocationList.from_json(data, key, application, source)
    return RevocationList.decode(data, key, application)


def read_revocations(directory: Path, trust: Trust | None) -> RevocationList | None:
    """The installed list, verified; None when there is none (or it no longer verifies,
    which is logged: the file was verified when installed, so someone changed it)."""
    path = directory / REVOCATIONS_FILE
    if trust is None or not path.exists():
        return None
    try:
        return parse_revocations(read_bytes(path, _("revocation list")), trust, str(path))
    except OpenKMSError as exc:
        log.warning("%s is ignored: %s", path, exc.message)
        return None


def revoked_problem(entry: RevocationEntry) -> str:
    """What ``dli`` says of a revoked host."""
    when = dt.datetime.fromtimestamp(entry.revoked_at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    because = f": {entry.reason}" if entry.reason else ""
    return f"Certificate revoked by the publisher on {when}{because}"
