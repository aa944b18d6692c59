"""One machine, one activation: which record a claim is, online or by phone (pure rules).

The in-memory model below applies ``match_machine``, ``decide_claim`` and ``claimed_row``
exactly as both databases do; hypothesis drives it with machines activating either way,
some of them sharing a phone reference (a 40-bit collision).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from openkms.core.keys import KeyKind
from openkms.core.phone import machine_reference
from openkms.publisher.machines import (
    MachineMatch,
    claimed_row,
    legacy_phone_ref,
    mak_phone_ref,
    match_machine,
    relinked,
)
from openkms.publisher.records import (
    ClaimOutcome,
    ClaimRequest,
    IssuedKey,
    MachineActivation,
    decide_claim,
    phone_machine,
)

CMID_A = "6f1d2c3b-0000-4000-8000-00000000000a"
CMID_B = "6f1d2c3b-0000-4000-8000-00000000000b"


def online(machine: str, ref: str, now: int = 100, name: str = "pc") -> ClaimRequest:
    return ClaimRequest("k", KeyKind.MAK, machine, name, now, "test", ref)


def by_phone(ref: str, now: int = 100) -> ClaimRequest:
    return ClaimRequest("k", KeyKind.MAK, ref, "by phone", now, "test", ref)


def row(machine: str, ref: str | None, count: int = 1, first: int = 10) -> MachineActivation:
    return MachineActivation("k", machine, f"name-{machine}", first, first, count, ref)


def test_the_phone_reference_of_a_mak_client_is_its_hashed_cmid() -> None:
    ref = mak_phone_ref(CMID_A)
    assert ref == phone_machine(machine_reference(uuid.UUID(CMID_A).bytes))
    assert ref.startswith("phone:") and int(ref[6:], 16) < 2**40


def test_a_phone_claim_is_the_machine_recorded_online_with_its_reference() -> None:
    recorded = row(CMID_A, "phone:1", count=2)
    match = match_machine(by_phone("phone:1", now=50), [recorded])
    assert match == MachineMatch(recorded, CMID_A, ())
    after = claimed_row(by_phone("phone:1", now=50), match)
    # the online ID and name stay; one more activation of the same machine
    assert (after.machine, after.machine_name, after.count) == (CMID_A, f"name-{CMID_A}", 3)
    assert after.last_at == 50


def test_an_online_claim_is_the_machine_recorded_by_phone_and_takes_its_id() -> None:
    recorded = row("phone:1", "phone:1")
    request = online(CMID_A, "phone:1", name="pc-7")
    match = match_machine(request, [recorded])
    assert match.keep == "phone:1" and match.existing is not None
    after = claimed_row(request, match)
    assert (after.machine, after.machine_name, after.count) == (CMID_A, "pc-7", 2)
    assert after.phone_ref == "phone:1"


def test_two_cmids_with_one_reference_are_two_machines_online() -> None:
    """A 40-bit collision never merges two machines that both named themselves online."""
    match = match_machine(online(CMID_B, "phone:1"), [row(CMID_A, "phone:1")])
    assert match.existing is None
    assert decide_claim(_key(5), KeyKind.MAK, match.existing, 1) is ClaimOutcome.NEW_MACHINE


def test_a_machine_recorded_both_ways_is_merged_into_its_online_record() -> None:
    rows = [row(CMID_A, "phone:1", count=2, first=30), row("phone:1", "phone:1", count=1, first=5)]
    for request in (online(CMID_A, "phone:1"), by_phone("phone:1")):
        match = match_machine(request, rows)
        assert match.keep == CMID_A and match.drop == ("phone:1",)
        assert match.existing is not None
        assert (match.existing.count, match.existing.first_at) == (3, 5)


def test_a_phone_claim_among_colliding_online_machines_takes_the_oldest() -> None:
    rows = [row(CMID_B, "phone:1", first=20), row(CMID_A, "phone:1", first=10)]
    assert match_machine(by_phone("phone:1"), rows).keep == CMID_A


def test_a_claim_without_reference_matches_its_machine_only() -> None:
    request = ClaimRequest("k", KeyKind.HOST, "fp:1", "h", 100, "test")
    assert match_machine(request, [row("phone:9", "phone:9")]).existing is None
    assert match_machine(request, [row("fp:1", None)]).keep == "fp:1"


def test_legacy_references_are_computed_where_they_can_be() -> None:
    assert legacy_phone_ref(KeyKind.MAK, CMID_A) == mak_phone_ref(CMID_A)
    assert legacy_phone_ref(KeyKind.MAK, "phone:ab") == "phone:ab"
    assert legacy_phone_ref(KeyKind.HOST, "phone:ab") == "phone:ab"
    assert legacy_phone_ref(KeyKind.HOST, "0123abcd:x") is None  # no public key recorded
    assert legacy_phone_ref(KeyKind.MAK, CMID_A.upper()) is None  # never recorded so
    assert legacy_phone_ref(KeyKind.MAK, "not-a-cmid") is None


def test_relinking_merges_a_mak_client_recorded_both_ways() -> None:
    ref = mak_phone_ref(CMID_A)
    rows = [
        MachineActivation("k", CMID_A, "pc-a", 10, 40, 2),
        MachineActivation("k", ref, "by phone", 20, 30, 1),
        MachineActivation("k", CMID_B, "pc-b", 15, 15, 1),
    ]
    relink = relinked(KeyKind.MAK, rows)
    assert relink.drop == (ref,) and relink.merges == ((ref, CMID_A),)
    changed = {r.machine: r for r in relink.changed}
    assert changed[CMID_A] == MachineActivation("k", CMID_A, "pc-a", 10, 40, 3, ref)
    assert changed[CMID_B].phone_ref == mak_phone_ref(CMID_B)
    assert relinked(KeyKind.MAK, list(relink.changed)).changed == ()  # done once


def _key(allowed: int, per_machine: int | None = None) -> IssuedKey:
    return IssuedKey("k", "K", KeyKind.MAK, None, "p", allowed, per_machine, 0)


@dataclass
class _Records:
    """The claim as both databases apply it, on a dict of rows."""

    key: IssuedKey
    rows: dict[str, MachineActivation] = field(default_factory=dict)

    def claim(self, request: ClaimRequest) -> ClaimOutcome:
        found = [
            r
            for r in self.rows.values()
            if r.machine in (request.machine, request.phone_ref)
            or (request.phone_ref is not None and r.phone_ref == request.phone_ref)
        ]
        match = match_machine(request, found)
        outcome = decide_claim(self.key, request.kind, match.existing, len(self.rows))
        if outcome is ClaimOutcome.NEW_MACHINE:
            new = claimed_row(request, match)
            self.rows[new.machine] = new
        elif outcome is ClaimOutcome.SAME_MACHINE and match.keep is not None:
            for machine in (*match.drop, match.keep):
                del self.rows[machine]
            after = claimed_row(request, match)
            self.rows[after.machine] = after
        return outcome


_MACHINES = [f"00000000-0000-4000-8000-{n:012x}" for n in range(6)]


@settings(max_examples=300, deadline=None)
@given(
    allowed=st.integers(1, 4),
    per_machine=st.one_of(st.none(), st.integers(1, 4)),
    refs=st.lists(st.integers(0, 5), min_size=6, max_size=6),
    claims=st.lists(st.tuples(st.integers(0, 5), st.booleans()), max_size=25),
)
def test_one_machine_one_activation_against_a_model(
    allowed: int, per_machine: int | None, refs: list[int], claims: list[tuple[int, bool]]
) -> None:
    """Never more records than the key allows; each machine one record whichever way it
    activates; a collision can only let the machines sharing a reference count as one."""
    records = _Records(_key(allowed, per_machine))
    granted: dict[int, int] = {}
    for index, phone in claims:
        ref = phone_machine(refs[index])
        request = by_phone(ref) if phone else online(_MACHINES[index], ref)
        if records.claim(request).granted:
            granted[index] = granted.get(index, 0) + 1
        assert len(records.rows) <= allowed
        assert sum(r.count for r in records.rows.values()) == sum(granted.values())
    shared = len(granted) - len({refs[i] for i in granted})
    assert len(granted) <= allowed + shared
    if shared == 0:
        # no collision: one record per machine, counted exactly, the per-machine limit kept
        assert len(records.rows) == len(granted)
        by_ref = {r.phone_ref: r.count for r in records.rows.values()}
        assert by_ref == {phone_machine(refs[i]): n for i, n in granted.items()}
        assert per_machine is None or all(n <= per_machine for n in granted.values())
