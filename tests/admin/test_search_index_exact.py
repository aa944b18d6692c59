"""The search index holds exactly the clients' text as the store has it now.

Its FTS5 table is contentless: an entry is deleted by giving FTS5 back the values it indexed
(kept with the keys), and values other than those would leave trigrams behind that no
search could tell from real ones. After any sequence of new clients, renames, forgotten
clients and clients back under another application, indexed in any number of steps, every
trigram of every text ever written must match exactly the entries whose current text holds
it: no trigram of an old name, no entry of a forgotten client.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from admin.test_client_search import APP, T0, req
from openkms.core.counting import CountPolicy
from openkms.store import _sqlite_text as text
from openkms.store._sqlite_conn import connect_writer
from openkms.store._sqlite_writer import BatchWriter, Forget, WriteOp

CMIDS = [f"cmid-{i}" for i in range(5)]
NAMES = ["desk-ab", "desk-ac", "lap-ab", "lap-zz", "pc-abc"]
APPS = [APP, "other"]

# One step: a request (CMID, name, application) or a forgotten client (CMID, application).
steps = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(CMIDS), st.sampled_from(NAMES), st.sampled_from(APPS)),
        st.tuples(st.sampled_from(CMIDS), st.sampled_from(APPS)),
    ),
    min_size=4,
    max_size=30,
)


def trigrams(value: str) -> set[str]:
    return {value[i : i + 3] for i in range(len(value) - 2)}


def check_exact(path: Path) -> None:
    """Every trigram of the texts used matches exactly the keys whose text holds it."""
    conn = sqlite3.connect(f"{text.index_path(path).as_uri()}?mode=ro", uri=True)
    try:
        keys = conn.execute("SELECT id, cmid, machine_name FROM client_text_keys").fetchall()
        for gram in set().union(*(trigrams(v) for v in CMIDS + NAMES)):
            quoted = '"' + gram + '"'
            matched = {
                rowid
                for (rowid,) in conn.execute(
                    "SELECT rowid FROM client_text WHERE client_text MATCH ?", (quoted,)
                )
            }
            assert matched == {key for key, cmid, name in keys if gram in cmid + "\n" + name}
    finally:
        conn.close()


@settings(max_examples=30, deadline=None)
@given(steps=steps, chunks=st.integers(min_value=2, max_value=10))
def test_the_index_holds_exactly_the_current_text(
    steps: list[tuple[str, ...]], chunks: int
) -> None:
    with tempfile.TemporaryDirectory() as name:
        path = Path(name) / "host.db"
        writer = BatchWriter(connect_writer(path), path, CountPolicy(), 10_000)
        try:
            ops: list[WriteOp] = []
            for n, step in enumerate(steps):
                if len(step) == 3:
                    ops.append(req(step[0], step[1], T0 + n, app=step[2]))
                else:
                    ops.append(Forget(step[1], step[0]))
            size = max(1, len(ops) // chunks)
            for start in range(0, len(ops), size):
                writer.commit(ops[start : start + size])
                writer.search.catch_up()
            check_exact(path)
            current = writer.conn.execute(
                "SELECT application_id, cmid, machine_name FROM clients"
            ).fetchall()
            index = sqlite3.connect(f"{text.index_path(path).as_uri()}?mode=ro", uri=True)
            try:
                held = index.execute(
                    "SELECT application_id, cmid, machine_name FROM client_text_keys"
                ).fetchall()
            finally:
                index.close()
            assert sorted(held) == sorted(current)
        finally:
            writer.close()
