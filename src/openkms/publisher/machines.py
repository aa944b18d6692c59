"""Which recorded machine a claim is: one machine, one activation, online or by phone.

Online, a machine names itself fully (a MAK client by its CMID, a host by its fingerprint);
by phone only by its *phone reference* (``phone:<hex>``): the CMID hashed to 40 bits, or a
host's public key and fingerprint hashed to 128 bits (:mod:`openkms.core.phone`). An online
claim computes the reference too, so every record carries both when known (``phone_ref``)
and a claim finds its machine whichever way it activated before:

* an online claim is the machine recorded under its own ID, or the machine recorded *only
  by phone* under its reference; a record of another ID with the same reference is another
  machine (two CMIDs are two machines, whatever their hashes);
* a phone claim is the machine recorded by phone under its reference, or the (oldest)
  machine recorded online with that reference.

Records made before references existed (a machine activated both ways, so recorded twice)
are merged into one: by the schema migration where the reference can be computed (a MAK
client's CMID), else at the machine's next online claim (a host: its public key was never
recorded). A merged record keeps the online ID, the sum of the counts, the first and last
dates. The rules are pure; both databases apply them under the key's lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace

from openkms.core.keys import KeyKind
from openkms.core.phone import host_reference, machine_reference
from openkms.publisher.records import (
    PHONE_PREFIX,
    ClaimRequest,
    MachineActivation,
    phone_machine,
)

__all__ = [
    "MachineMatch",
    "Relink",
    "claimed_row",
    "host_phone_ref",
    "legacy_phone_ref",
    "mak_phone_ref",
    "match_machine",
    "relinked",
]


def mak_phone_ref(cmid: str) -> str:
    """The phone reference of a MAK client with this (canonical) CMID."""
    return phone_machine(machine_reference(uuid.UUID(cmid).bytes))


def host_phone_ref(public_key: bytes, host_fingerprint: str) -> str:
    """The phone reference of a host with this public key and fingerprint."""
    return phone_machine(host_reference(public_key, host_fingerprint))


def legacy_phone_ref(kind: KeyKind, machine: str) -> str | None:
    """The phone reference of a record made before references (None when not computable)."""
    if machine.startswith(PHONE_PREFIX):
        return machine
    if kind is not KeyKind.MAK:
        return None  # a host's fingerprint: its public key was not recorded
    try:
        cmid = uuid.UUID(machine)
    except ValueError:
        return None
    return mak_phone_ref(machine) if str(cmid) == machine else None


def _phone_only(row: MachineActivation) -> bool:
    return row.machine.startswith(PHONE_PREFIX)


@dataclass(frozen=True, slots=True)
class MachineMatch:
    """The machine a claim found: its record as the claim rule sees it, and the rows to merge.

    ``existing`` is None for a new machine; else the merged view of the rows found (summed
    count), ``keep`` the row the claim updates and ``drop`` the rows merged into it.
    """

    existing: MachineActivation | None
    keep: str | None = None
    drop: tuple[str, ...] = ()


def _oldest(rows: Sequence[MachineActivation]) -> list[MachineActivation]:
    return sorted(rows, key=lambda r: (r.first_at, r.machine))[:1]


def match_machine(request: ClaimRequest, found: Sequence[MachineActivation]) -> MachineMatch:
    """The recorded machine ``request`` is among the rows ``found`` for its ID or reference."""
    ref = request.phone_ref
    by_phone = [r for r in found if _phone_only(r) and r.machine in (request.machine, ref)]
    if request.by_phone:
        others = [r for r in found if not _phone_only(r) and ref and r.phone_ref == ref]
        online = _oldest(others)
    else:
        online = [r for r in found if r.machine == request.machine]
    rows = online + by_phone[:1]
    if not rows:
        return MachineMatch(None)
    keep = rows[0]
    merged = replace(
        keep,
        first_at=min(r.first_at for r in rows),
        last_at=max(r.last_at for r in rows),
        count=sum(r.count for r in rows),
        phone_ref=keep.phone_ref or next((r.phone_ref for r in rows if r.phone_ref), None),
    )
    return MachineMatch(merged, keep.machine, tuple(r.machine for r in rows[1:]))


def claimed_row(request: ClaimRequest, match: MachineMatch) -> MachineActivation:
    """The machine's row after a granted claim (a new row, or the merged row counted once more).

    An online claim names the row by the machine's own ID; a phone claim keeps the name an
    online activation recorded (the phone knows none).
    """
    found = match.existing
    if found is None:
        return MachineActivation(
            request.key_id,
            request.machine,
            request.machine_name,
            request.now,
            request.now,
            1,
            request.phone_ref,
        )
    keeps_name = request.by_phone and not _phone_only(found)
    return replace(
        found,
        machine=found.machine if request.by_phone else request.machine,
        machine_name=found.machine_name if keeps_name else request.machine_name,
        last_at=max(found.last_at, request.now),
        count=found.count + 1,
        phone_ref=request.phone_ref or found.phone_ref,
    )


@dataclass(frozen=True, slots=True)
class Relink:
    """What the migration to phone references changes in one key's rows."""

    changed: tuple[MachineActivation, ...]  # rows to rewrite (found by key and machine)
    drop: tuple[str, ...]  # rows merged into another
    merges: tuple[tuple[str, str], ...]  # (dropped, kept) for the audit log


def relinked(kind: KeyKind, rows: Sequence[MachineActivation]) -> Relink:
    """One key's rows given their phone references, a machine recorded both ways merged."""
    current = [
        r if r.phone_ref else replace(r, phone_ref=legacy_phone_ref(kind, r.machine)) for r in rows
    ]
    changed = {r.machine: r for r, old in zip(current, rows, strict=True) if r != old}
    drop: list[str] = []
    merges: list[tuple[str, str]] = []
    for row in [r for r in current if _phone_only(r)]:
        request = ClaimRequest(row.key_id, kind, row.machine, "", 0, "", row.machine)
        match = match_machine(request, [r for r in current if r.machine not in drop])
        if match.existing is None or match.keep is None or not match.drop:
            continue
        changed[match.keep] = match.existing
        changed.pop(row.machine, None)
        drop.append(row.machine)
        merges.append((row.machine, match.keep))
    return Relink(tuple(changed.values()), tuple(drop), tuple(merges))
