"""Hosts known only by their phone reference that the publisher refuses to certify again.

A host activated only by phone is recorded as ``phone:<hex>``: its installation ID carries
a 128-bit hash of its public key and fingerprint (``core/phone.py``, ``host_reference``),
not the fingerprint, so neither its ``OKMS-`` ID nor a ``host`` entry of the signed list
(which names a fingerprint) can be derived from it. ``revoke-host phone:<hex>`` records the
reference here, in ``DIR/phone-host-refusals.json``, and the publisher refuses that host a
new certificate for good (0xC004C003): by phone (the installation ID carries the reference)
and online or with a request file (the request carries the public key and fingerprint, whose
reference the publisher computes). The file is read at every host activation; it never
grows the signed list, which hosts and clients download.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Final

import msgspec

from openkms._files import atomic_write, read_bytes
from openkms.core.codes import ResultCode
from openkms.errors import OpenKMSError
from openkms.i18n import _

__all__ = [
    "PHONE_REFUSALS_FILE",
    "PhoneRefusal",
    "add_phone_refusal",
    "phone_refusals",
    "refused_phone_host",
]

PHONE_REFUSALS_FILE: Final = "phone-host-refusals.json"
_FORMAT: Final = "openkms-phone-host-refusals/1"
_MAX_BYTES: Final = 4 * 1024 * 1024

Reference = Annotated[str, msgspec.Meta(pattern="^phone:[0-9a-f]{1,32}$")]


class PhoneRefusal(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One host refused by its phone reference: when, why, and the host keys it used."""

    reference: Reference
    revoked_at: Annotated[int, msgspec.Meta(ge=0)]
    reason: Annotated[str, msgspec.Meta(max_length=200)] = ""
    key_ids: tuple[str, ...] = ()


class _RefusalFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    format: str
    refusals: tuple[PhoneRefusal, ...]


_DECODER = msgspec.json.Decoder(_RefusalFile)


def phone_refusals(directory: Path) -> tuple[PhoneRefusal, ...]:
    """The refusals of ``DIR/phone-host-refusals.json`` (none before the first);
    OpenKMSError (0xE0040004) when the file is not one."""
    path = directory / PHONE_REFUSALS_FILE
    if not path.exists():
        return ()
    data = read_bytes(path, _("phone host refusals"))
    try:
        if len(data) > _MAX_BYTES:
            raise ValueError("too large")
        found = _DECODER.decode(data)
        if found.format != _FORMAT:
            raise ValueError(f"format {found.format[:40]!r}")
    except (msgspec.DecodeError, ValueError) as exc:
        raise OpenKMSError(
            _("{path} is not a list of refused phone hosts ({exc}).").format(
                path=path, exc=str(exc)[:120]
            ),
            code=ResultCode.STATE_CORRUPT,
            fix=_("Restore the file from the publisher directory's backup."),
        ) from None
    return found.refusals


def refused_phone_host(directory: Path, reference: str) -> PhoneRefusal | None:
    """The refusal of the host with phone reference ``reference`` (``phone:<hex>``), or None."""
    return next((r for r in phone_refusals(directory) if r.reference == reference), None)


def add_phone_refusal(directory: Path, refusal: PhoneRefusal) -> bool:
    """Record ``refusal``; False (nothing written) when its reference is already refused."""
    current = phone_refusals(directory)
    if any(r.reference == refusal.reference for r in current):
        return False
    document = _RefusalFile(_FORMAT, (*current, refusal))
    data = msgspec.json.format(msgspec.json.encode(document), indent=2) + b"\n"
    atomic_write(directory / PHONE_REFUSALS_FILE, data)
    return True
