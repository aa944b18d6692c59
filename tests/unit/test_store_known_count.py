"""The SQLite writer's steady state: a request whose count is known to stay at the cap is
upserted with its ticket time in one statement (``RecordBatch._known_count``). It must leave
exactly the rows and counts that the general path (upsert, count, then ``SET_ACTIVATED``)
leaves, whatever the order of times, N-policies and batches."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkms.core.codes import ResultCode
from openkms.core.counting import CountPolicy
from openkms.core.events import format_client_time, make_event
from openkms.store._sqlite_conn import connect_writer
from openkms.store._sqlite_records import RecordBatch
from openkms.store._sqlite_writer import BatchWriter
from openkms.store.base import RequestRecord

T0 = 1_800_000_000
DAY = 86400
POLICY = CountPolicy(window_days=1, cap_factor=2)

Step = tuple[str, int, int, bool]


def request(cmid: str, n: int, t: int, counted: bool) -> RequestRecord:
    result = ResultCode.OK if counted else ResultCode.COUNT_TOO_LOW
    event = make_event(
        12290, t, [f"0x{int(result):X}", n, cmid, cmid, format_client_time(t), 0, 1, 0, "act"]
    )
    return RequestRecord(t, "host", "app", "act", cmid, f"pc-{cmid}-{t}", 1, n, result, event)


def outcome(steps: list[Step], cuts: list[int], *, fast: bool) -> tuple[object, ...]:
    """Counts answered, then every row of ``clients`` and ``n_policy_seen``, after recording
    ``steps`` in batches ending at ``cuts``; with ``fast`` False, the general path only."""
    known = RecordBatch._known_count
    taken = 0

    def spy(self: RecordBatch, record: RequestRecord) -> int | None:
        nonlocal taken
        count = known(self, record) if fast else None
        taken += count is not None
        return count

    with tempfile.TemporaryDirectory() as name, pytest.MonkeyPatch.context() as patch:
        patch.setattr(RecordBatch, "_known_count", spy)
        path = Path(name) / "host.db"
        writer = BatchWriter(connect_writer(path), path, POLICY, 10_000)
        try:
            records = [request(*step) for step in steps]
            counts: list[object] = []
            for start, end in zip([0, *cuts], [*cuts, len(records)], strict=True):
                counts += writer.commit(records[start:end])
            conn: sqlite3.Connection = writer.conn
            clients = conn.execute("SELECT * FROM clients ORDER BY cmid").fetchall()
            policies = conn.execute("SELECT * FROM n_policy_seen ORDER BY n_policy").fetchall()
        finally:
            writer.close()
    return counts, clients, policies, taken


# A few CMIDs and N-policies, times in the window and out of it, now and then an hour or a
# day ahead of the next request (a host's clock set back), counted or refused.
steps = st.lists(
    st.tuples(
        st.sampled_from([f"c{i}" for i in range(6)]),
        st.sampled_from([1, 2, 3]),
        # Few distinct times, so that requests of one batch often share one (the steady
        # state needs its N-policy upserted at the request's time) and come out of order.
        st.sampled_from([0, 0, 0, 1, 1, 2, 3600, 3601, DAY, DAY + 3601, 2 * DAY]),
        st.booleans(),
    ),
    min_size=1,
    max_size=40,
).map(lambda raw: [(c, n, T0 + offset, k) for c, n, offset, k in raw])


@settings(max_examples=60, deadline=None)
@given(steps=steps, data=st.data())
def test_the_steady_state_writes_what_the_general_path_writes(
    steps: list[Step], data: st.DataObject
) -> None:
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(steps) - 1)), max_size=4))))
    cuts = [cut for cut in cuts if 0 < cut < len(steps)]
    fast = outcome(steps, cuts, fast=True)
    general = outcome(steps, cuts, fast=False)
    assert fast[:3] == general[:3]
    assert general[3] == 0


def test_the_steady_state_is_taken_once_the_count_is_at_its_cap() -> None:
    """At the cap (2 x N-policy 2 = 4 clients), every later request of the same second in the
    batch takes the single statement, and still records its ticket."""
    steps = [(f"c{i}", 2, T0, True) for i in range(10)]
    counts, clients, _, taken = outcome(steps, [], fast=True)
    assert counts == [1, 2, 3, 4, 4, 4, 4, 4, 4, 4]
    assert taken == 6  # c4 ... c9: the cap was reached with c3 (queried once)
    last_activated = {row[1]: row[-1] for row in clients}  # type: ignore[index]
    assert last_activated == {"c0": None, **{f"c{i}": T0 for i in range(1, 10)}}


def test_an_older_request_in_the_steady_state_keeps_the_later_ticket_time() -> None:
    """Out of order: c1's ticket at T0 + 2 is committed, then in the next batch c1 comes
    again at T0 + 1 once the count at T0 + 1 is known to be at its cap: the single
    statement keeps T0 + 2, as ``SET_ACTIVATED``'s ``max`` does."""
    steps = [("c0", 1, T0 + 2, True), ("c1", 1, T0 + 2, True), ("c2", 1, T0 + 1, True)]
    steps.append(("c1", 1, T0 + 1, True))
    fast = outcome(steps, [2], fast=True)
    assert fast[3] == 1  # the last request took the single statement
    assert fast[:3] == outcome(steps, [2], fast=False)[:3]
    last_activated = {row[1]: row[-1] for row in fast[1]}  # type: ignore[attr-defined]
    assert last_activated["c1"] == T0 + 2
