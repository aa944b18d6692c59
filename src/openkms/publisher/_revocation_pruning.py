"""When a revocation list may forget an entry: every certificate it concerns is long dead.

An entry can stop mattering only once no host can use what it revokes and no client can
take a ticket chained to it. The host refuses to sign once its certificate has expired
(``host/state.py``, ``_problem``). The client refuses a ticket issued after its host's
certificate expired, and one whose ``valid_until`` lies more than the activation validity
(180 days) past the certificate's expiry (``core/ticket.py``, ``_check_claims``). So past
``expires_at + 180 days``, no ticket chained to the certificate leaves a client licensed; a
client that took one then would still have its out-of-tolerance grace (30 days) to run on,
and clocks may differ by the 4 hours the project tolerates. Hence :data:`PRUNE_MARGIN`:
an entry is dropped ``180 days + 30 days + 4 hours`` after the last expiry it concerns.

What the publisher knows of the certificates it signed is its ``issue-certificate`` audit
lines (:mod:`openkms.publisher._issued_certificates`). An entry is dropped only when they
account for everything it could concern; otherwise it is kept (``None``: for good):

- ``certificate`` (a serial): the recorded certificate of that serial, else kept;
- ``host`` (a fingerprint): every certificate recorded for that host. The host's rows in
  the records must be fully accounted for (as many recorded certificates per host key as
  the row counts activations), else a certificate signed before the lines existed could
  still be valid (a host activated by phone as well counts its phone activations in the
  same row, so its entry stays too); and a phone activation of one of the host's keys
  recorded apart (a host known only by its phone reference) may be the same host with a
  certificate of up to ``MAX_GRANT_DAYS``, so it counts until then. A host re-activated
  after its revocation has a new certificate, which a later expiry here keeps revoked;
- ``key``: a host key's certificates, the same way; a MAK's entry is kept (MAK tickets and
  phone grants are not certificates this list can date).
"""

from __future__ import annotations

from collections.abc import Iterable

from openkms.core import settings
from openkms.core.keys import KeyKind
from openkms.core.phone import MAX_GRANT_DAYS
from openkms.core.revocation import RevocationEntry, RevocationKind
from openkms.publisher._issued_certificates import IssuedCertificate
from openkms.publisher.records import PHONE_PREFIX, KeyUsage, MachineActivation

__all__ = ["PRUNE_MARGIN", "keep_until", "prune"]

_DAY = 86400
PRUNE_MARGIN = (
    settings.ACTIVATION_VALIDITY_DAYS + settings.OUT_OF_TOLERANCE_GRACE_DAYS
) * _DAY + settings.MAX_CLOCK_SKEW_HOURS * 3600
_PHONE_LIFE = MAX_GRANT_DAYS * _DAY
_PHONE = PHONE_PREFIX


def prune(
    entries: Iterable[RevocationEntry],
    certificates: list[IssuedCertificate],
    usage: list[KeyUsage],
    now: int,
) -> tuple[tuple[RevocationEntry, ...], tuple[RevocationEntry, ...]]:
    """``entries`` split into those to keep and those past :func:`keep_until` at ``now``."""
    kept: list[RevocationEntry] = []
    dropped: list[RevocationEntry] = []
    for entry in entries:
        until = keep_until(entry, certificates, usage)
        (kept if until is None or now < until else dropped).append(entry)
    return tuple(kept), tuple(dropped)


def keep_until(
    entry: RevocationEntry, certificates: list[IssuedCertificate], usage: list[KeyUsage]
) -> int | None:
    """When ``entry`` may leave the list (the module's rule); None: it stays."""
    if entry.kind is RevocationKind.CERTIFICATE:
        found = [c.expires_at for c in certificates if c.serial == entry.subject]
        return max(found) + PRUNE_MARGIN if found else None
    if entry.kind is RevocationKind.HOST:
        mine = [c for c in certificates if c.fingerprint == entry.subject]
        rows = [m for u in usage for m in u.machines if _host_of(m) == entry.subject]
        keys = {c.key_id for c in mine} | {m.key_id for m in rows}
        return _last_use(mine, rows, _phone_rows(usage, keys))
    key = next((u for u in usage if u.key.key_id == entry.subject), None)
    if key is None or key.key.kind is not KeyKind.HOST:
        return None
    mine = [c for c in certificates if c.key_id == entry.subject]
    rows = [m for m in key.machines if not m.machine.startswith(_PHONE)]
    return _last_use(mine, rows, _phone_rows(usage, {entry.subject}))


def _last_use(
    mine: list[IssuedCertificate],
    rows: list[MachineActivation],
    phone: list[MachineActivation],
) -> int | None:
    """The last expiry ``mine`` and ``phone`` account for, plus the margin; None if ``rows``
    hold activations no recorded certificate accounts for (or there is nothing at all)."""
    if not mine:
        return None
    for row in rows:
        recorded = [c for c in mine if c.key_id == row.key_id and c.fingerprint == _host_of(row)]
        if len(recorded) < row.count:
            return None
    ends = [c.expires_at for c in mine] + [m.last_at + _PHONE_LIFE for m in phone]
    return max(ends) + PRUNE_MARGIN


def _host_of(machine: MachineActivation) -> str | None:
    """The fingerprint (key part) of a host's row; None for a phone row."""
    if machine.machine.startswith(_PHONE):
        return None
    return machine.machine.partition(":")[0]


def _phone_rows(usage: list[KeyUsage], keys: set[str]) -> list[MachineActivation]:
    """The phone activations of the host keys ``keys``."""
    return [
        m
        for u in usage
        if u.key.key_id in keys and u.key.kind is KeyKind.HOST
        for m in u.machines
        if m.machine.startswith(_PHONE)
    ]
