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
lines (:mod:`openkms.publisher._issued_certificates`), and of the phone grants of hosts the
audit lines of their claims (each lasts at most ``MAX_GRANT_DAYS`` from its installation
ID's day, at most a day after the claim: :data:`PHONE_LIFE`). An entry is dropped only when
they account for everything it could concern; otherwise it is kept (``None``: for good):

- ``certificate`` (a serial): the recorded certificate of that serial. A serial no line
  records is kept: it may be a certificate signed before the lines existed, the MAK
  service's own certificate, or a phone certificate (whose serial hashes what only the host
  knows), and the first two last the catalog's ``certificate_days`` of their day, which
  nothing bounds or records;
- ``host`` (a fingerprint): every certificate recorded for that host. The host's rows in
  the records must be fully accounted for, each activation by a certificate line or a
  phone claim line of the row's reference, else a certificate signed before the lines
  existed could still be valid for as long as its unrecorded ``certificate_days``; a phone
  activation of one of the host's keys recorded apart (a host known only by its phone
  reference) may be the same host, so it counts until its longest grant ends. A host with
  no row and no certificate was never certified online by this publisher: only phone
  grants, of any host key, made before the revocation or after it (a phone-only host is
  not recognised by its fingerprint), can concern it. A host re-activated after its
  revocation has a new certificate or grant, which a later expiry here keeps revoked;
- ``key``: a host key's certificates, the same way. A blocked MAK's entry goes once every
  phone grant of the MAK has ended (none is made after the block, which the records
  enforce); a MAK with an online activation is kept, since a MAK ticket lasts as long as
  the MAK service certificate of its day, which the records do not date. A key the
  records do not know is kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from openkms.core import settings
from openkms.core.keys import KeyKind
from openkms.core.phone import MAX_GRANT_DAYS
from openkms.core.revocation import RevocationEntry, RevocationKind
from openkms.publisher._issued_certificates import IssuedCertificate, PhoneGrant
from openkms.publisher.records import PHONE_PREFIX, KeyUsage, MachineActivation

__all__ = ["PHONE_LIFE", "PRUNE_MARGIN", "keep_until", "prune"]

_DAY = 86400
PRUNE_MARGIN = (
    settings.ACTIVATION_VALIDITY_DAYS + settings.OUT_OF_TOLERANCE_GRACE_DAYS
) * _DAY + settings.MAX_CLOCK_SKEW_HOURS * 3600
# A phone grant ends at most MAX_GRANT_DAYS after its installation ID's day, which the
# publisher accepts up to the day after the claim.
PHONE_LIFE = (MAX_GRANT_DAYS + 1) * _DAY
_PHONE = PHONE_PREFIX


def prune(
    entries: Iterable[RevocationEntry],
    certificates: list[IssuedCertificate],
    usage: list[KeyUsage],
    now: int,
    grants: Sequence[PhoneGrant] = (),
) -> tuple[tuple[RevocationEntry, ...], tuple[RevocationEntry, ...]]:
    """``entries`` split into those to keep and those past :func:`keep_until` at ``now``."""
    kept: list[RevocationEntry] = []
    dropped: list[RevocationEntry] = []
    for entry in entries:
        until = keep_until(entry, certificates, usage, grants)
        (kept if until is None or now < until else dropped).append(entry)
    return tuple(kept), tuple(dropped)


def keep_until(
    entry: RevocationEntry,
    certificates: list[IssuedCertificate],
    usage: list[KeyUsage],
    grants: Sequence[PhoneGrant] = (),
) -> int | None:
    """When ``entry`` may leave the list (the module's rule); None: it stays."""
    if entry.kind is RevocationKind.CERTIFICATE:
        found = [c.expires_at for c in certificates if c.serial == entry.subject]
        return max(found) + PRUNE_MARGIN if found else None
    if entry.kind is RevocationKind.HOST:
        mine = [c for c in certificates if c.fingerprint == entry.subject]
        rows = [m for u in _hosts(usage) for m in u.machines if _host_of(m) == entry.subject]
        if not mine and not rows:
            return _phone_only_until(
                entry, _phone_rows(usage, {u.key.key_id for u in _hosts(usage)})
            )
        keys = {c.key_id for c in mine} | {m.key_id for m in rows}
        return _last_use(mine, rows, _phone_rows(usage, keys), grants)
    key = next((u for u in usage if u.key.key_id == entry.subject), None)
    if key is None:
        return None
    if key.key.kind is KeyKind.MAK:
        return _mak_until(entry, key)
    mine = [c for c in certificates if c.key_id == entry.subject]
    rows = [m for m in key.machines if not m.machine.startswith(_PHONE)]
    phone = _phone_rows(usage, {entry.subject})
    if not mine and not rows:
        return _phone_only_until(entry, phone)
    return _last_use(mine, rows, phone, grants)


def _last_use(
    mine: list[IssuedCertificate],
    rows: list[MachineActivation],
    phone: list[MachineActivation],
    grants: Sequence[PhoneGrant],
) -> int | None:
    """The last end ``mine``, ``phone`` and the rows' phone grants account for, plus the
    margin; None if ``rows`` hold activations that neither a recorded certificate nor a
    phone claim of the row accounts for."""
    ends = [c.expires_at for c in mine] + [m.last_at + PHONE_LIFE for m in phone]
    apart = {(m.key_id, m.machine) for m in phone}
    for row in rows:
        recorded = [c for c in mine if c.key_id == row.key_id and c.fingerprint == _host_of(row)]
        by_phone = [
            g.at
            for g in grants
            if row.phone_ref is not None
            and (row.key_id, row.phone_ref) not in apart  # its claims may be that row's
            and (g.key_id, g.reference) == (row.key_id, row.phone_ref)
        ]
        if len(recorded) + len(by_phone) < row.count:
            return None
        ends += [at + PHONE_LIFE for at in by_phone]
    return max(ends) + PRUNE_MARGIN if ends else None


def _phone_only_until(entry: RevocationEntry, phone: list[MachineActivation]) -> int:
    """An entry nothing but phone grants can concern: once the last of them (or one made as
    late as the revocation) has ended."""
    return max([entry.revoked_at] + [m.last_at for m in phone]) + PHONE_LIFE + PRUNE_MARGIN


def _mak_until(entry: RevocationEntry, key: KeyUsage) -> int | None:
    """A blocked MAK: once its phone grants have ended; None if it was activated online."""
    if any(not m.machine.startswith(_PHONE) for m in key.machines):
        return None
    ends = [entry.revoked_at] + [m.last_at + PHONE_LIFE for m in key.machines]
    return max(ends) + PRUNE_MARGIN


def _hosts(usage: list[KeyUsage]) -> list[KeyUsage]:
    return [u for u in usage if u.key.kind is KeyKind.HOST]


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
