"""SQLite plumbing of the host store: schema migrations, connections, error mapping, queries.

Shared by the async ``SqliteStore`` (its writer and its readers) and the synchronous
``SqliteReader`` a CLI uses, so that both read exactly the same rows the same way.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Final

from openkms.core.codes import ResultCode
from openkms.core.counting import CountPolicy
from openkms.core.events import EventRecord
from openkms.errors import StoreError
from openkms.store.backup import backup_before_migration
from openkms.store.base import ClientQuery, ClientRecord, Counters, EventQuery, RequestRecord

logger = logging.getLogger("openkms.store")

BUSY_TIMEOUT_MS: Final = 5000

# Primary result codes (the low byte of an extended code) of sqlite3.Error.sqlite_errorcode.
_SQLITE_PERM: Final = 3
_SQLITE_BUSY: Final = 5
_SQLITE_READONLY: Final = 8
_SQLITE_IOERR: Final = 10
_SQLITE_CORRUPT: Final = 11
_SQLITE_FULL: Final = 13
_SQLITE_CANTOPEN: Final = 14
_SQLITE_NOTADB: Final = 26

# Migration i (0-based) takes a store from schema version i to i + 1 (PRAGMA user_version).
# Append only: never edit a migration that has shipped.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        # AUTOINCREMENT keeps seq strictly increasing even after retention deletes old rows,
        # so an ``after_seq`` cursor never sees a number twice.
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id INTEGER NOT NULL,
            time INTEGER NOT NULL,
            info TEXT NOT NULL,
            cmid TEXT,
            activation_id TEXT,
            hresult INTEGER
        )""",
        "CREATE INDEX events_time ON events (time)",
        "CREATE INDEX events_cmid ON events (cmid) WHERE cmid IS NOT NULL",
        """CREATE TABLE clients (
            application_id TEXT NOT NULL,
            cmid TEXT NOT NULL,
            activation_id TEXT NOT NULL,
            machine_name TEXT NOT NULL,
            first_seen INTEGER NOT NULL,
            last_seen INTEGER NOT NULL,
            license_status INTEGER NOT NULL,
            n_policy INTEGER NOT NULL,
            requests INTEGER NOT NULL,
            PRIMARY KEY (application_id, cmid)
        ) WITHOUT ROWID""",
        # The count query walks this index and stops after ``cap`` rows.
        "CREATE INDEX clients_recent ON clients (application_id, last_seen)",
        """CREATE TABLE n_policy_seen (
            application_id TEXT NOT NULL,
            n_policy INTEGER NOT NULL,
            last_seen INTEGER NOT NULL,
            PRIMARY KEY (application_id, n_policy)
        ) WITHOUT ROWID""",
        """CREATE TABLE counters (
            host_id TEXT NOT NULL,
            license_status INTEGER NOT NULL,
            total INTEGER NOT NULL,
            failed INTEGER NOT NULL,
            PRIMARY KEY (host_id, license_status)
        ) WITHOUT ROWID""",
    ),
    (
        # 2: the admin dashboard. Hourly totals of 12290 requests, kept by a trigger so that
        # a chart over months reads a few hundred rows, not a million events; they outlive
        # event retention on purpose.
        """CREATE TABLE activity_hourly (
            hour INTEGER PRIMARY KEY,
            succeeded INTEGER NOT NULL,
            failed INTEGER NOT NULL
        )""",
        """CREATE TRIGGER events_activity AFTER INSERT ON events WHEN new.event_id = 12290
        BEGIN
            INSERT INTO activity_hourly VALUES
                (new.time / 3600 * 3600, new.hresult IS 0, new.hresult IS NOT 0)
            ON CONFLICT (hour) DO UPDATE SET
                succeeded = succeeded + excluded.succeeded, failed = failed + excluded.failed;
        END""",
        """INSERT INTO activity_hourly
            SELECT time / 3600 * 3600, sum(hresult IS 0), sum(hresult IS NOT 0)
            FROM events WHERE event_id = 12290 GROUP BY 1""",
        # Partial indexes: maintained only for the rare rows they cover (failed requests,
        # DNS events), they let the events page find those among a million newest first.
        "CREATE INDEX events_failed ON events (time) WHERE event_id = 12290 AND hresult <> 0",
        "CREATE INDEX events_other ON events (time) WHERE event_id <> 12290",
    ),
]

INSERT_EVENT: Final = (
    "INSERT INTO events (event_id, time, info, cmid, activation_id, hresult) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
# A batch's requests are added to the counters at once: (host, status, total, failed).
ADD_COUNTERS: Final = (
    "INSERT INTO counters VALUES (?, ?, ?, ?) ON CONFLICT (host_id, license_status) "
    "DO UPDATE SET total = total + excluded.total, failed = failed + excluded.failed"
)
# Descriptive fields follow the most recent request, even if requests arrive out of order.
UPSERT_CLIENT: Final = """
INSERT INTO clients VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)
ON CONFLICT (application_id, cmid) DO UPDATE SET
    activation_id = iif(excluded.last_seen >= last_seen, excluded.activation_id, activation_id),
    machine_name = iif(excluded.last_seen >= last_seen, excluded.machine_name, machine_name),
    license_status = iif(excluded.last_seen >= last_seen, excluded.license_status, license_status),
    n_policy = iif(excluded.last_seen >= last_seen, excluded.n_policy, n_policy),
    first_seen = min(first_seen, excluded.first_seen),
    last_seen = max(last_seen, excluded.last_seen),
    requests = requests + 1
"""
UPSERT_N_POLICY: Final = (
    "INSERT INTO n_policy_seen VALUES (?, ?, ?) ON CONFLICT (application_id, n_policy) "
    "DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)"
)


# In the field order of ClientRecord.
_CLIENT_COLUMNS: Final = (
    "cmid, application_id, activation_id, machine_name, first_seen, last_seen, "
    "license_status, n_policy, requests"
)


def schema_version() -> int:
    """The schema version this code writes."""
    return len(MIGRATIONS)


def map_error(exc: sqlite3.Error, path: Path) -> StoreError:
    """Translate an sqlite3 error into a StoreError that names the file and the fix."""
    primary = exc.sqlite_errorcode & 0xFF if hasattr(exc, "sqlite_errorcode") else 0
    if isinstance(exc, sqlite3.ProgrammingError) and "closed" in str(exc):
        return closed_error()
    if primary == _SQLITE_FULL:
        return StoreError(
            f"the store {path} cannot grow: the disk is full ({exc})", code=ResultCode.DISK_FULL
        )
    if primary in (_SQLITE_NOTADB, _SQLITE_CORRUPT):
        return StoreError(
            f"{path} is not an OpenKMS store or is damaged ({exc})",
            code=ResultCode.STATE_CORRUPT,
            fix="Restore the store from a backup, or move the file aside: the host starts an "
            "empty store and the count rebuilds as clients renew.",
        )
    if primary == _SQLITE_BUSY:
        return StoreError(
            f"the store {path} is locked by another process ({exc})",
            fix="Check that only one host uses this store; stop the other one.",
        )
    if primary in (_SQLITE_CANTOPEN, _SQLITE_PERM, _SQLITE_READONLY, _SQLITE_IOERR):
        return StoreError(f"cannot open or write the store {path} ({exc})")
    return StoreError(f"the store {path} failed: {exc}")


def closed_error() -> StoreError:
    """The error of any call made after ``close()``."""
    return StoreError("store is closed", fix="Open the store again before using it.")


def _connect(target: str, path: Path, *, uri: bool) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(
            target,
            uri=uri,
            isolation_level=None,  # we issue BEGIN/COMMIT ourselves
            check_same_thread=False,  # handed from the opening thread to the one using it
            timeout=BUSY_TIMEOUT_MS / 1000,
        )
    except sqlite3.Error as exc:
        raise map_error(exc, path) from exc
    return conn


def connect_writer(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the store; return the writer's connection."""
    if not path.parent.is_dir():
        raise StoreError(
            f"the directory of the store {path} does not exist",
            fix="Create the directory, or choose a store path in an existing one.",
        )
    conn = _connect(str(path), path, uri=False)
    try:
        _configure_writer(conn, path)
        migrate(conn, path)
    except sqlite3.Error as exc:
        conn.close()
        raise map_error(exc, path) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _configure_writer(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
    if str(mode).lower() != "wal":
        logger.warning("store %s cannot use WAL (journal_mode=%s); readers may wait", path, mode)
    # FULL: a commit is on disk when COMMIT returns, which is when the host may answer.
    conn.execute("PRAGMA synchronous = FULL")


def connect_reader(path: Path) -> sqlite3.Connection:
    """A read-only connection to an existing store (never creates the file)."""
    if not path.is_file():
        raise StoreError(
            f"there is no store at {path}",
            fix="Check the path; the host creates its store when it first starts.",
        )
    # mode=rw, not ro: a WAL reader may need to create the -shm file; query_only keeps it
    # from writing anything else.
    conn = _connect(path.resolve().as_uri() + "?mode=rw", path, uri=True)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA query_only = ON")
        _check_readable(conn, path)
    except sqlite3.Error as exc:
        conn.close()
        raise map_error(exc, path) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _user_version(conn: sqlite3.Connection) -> int:
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    return int(version)


def _newer_error(path: Path, version: int) -> StoreError:
    return StoreError(
        f"the store {path} has schema version {version}, newer than this OpenKMS "
        f"supports ({schema_version()})",
        code=ResultCode.UNSUPPORTED_VERSION,
        fix="Upgrade OpenKMS on this machine, or use a store written by this version.",
    )


def _foreign_error(path: Path) -> StoreError:
    return StoreError(
        f"{path} is an SQLite database but not an OpenKMS store",
        code=ResultCode.STATE_CORRUPT,
        fix="Choose another store path; do not point OpenKMS at another program's database.",
    )


def _check_readable(conn: sqlite3.Connection, path: Path) -> None:
    version = _user_version(conn)
    if version > schema_version():
        raise _newer_error(path, version)
    if version == 0:
        raise (
            _foreign_error(path)
            if _has_tables(conn)
            else StoreError(
                f"the store {path} is empty", fix="Start the host once to create the store."
            )
        )
    if version < schema_version():
        raise StoreError(
            f"the store {path} has the older schema version {version}",
            fix="Start the host once (it migrates the store), then read it again.",
        )


def _has_tables(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' LIMIT 1").fetchone()
    return row is not None


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the schema to ``schema_version()``, one transaction per migration."""
    version = _user_version(conn)
    target = schema_version()
    if version > target:
        raise _newer_error(path, version)
    if version == 0 and _has_tables(conn):
        raise _foreign_error(path)
    if 0 < version < target:
        backup_before_migration(conn, path, version)
    for step in range(version, target):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[step]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {step + 1}")
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise
        logger.info("store %s migrated to schema version %d", path, step + 1)


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is open (SQLite may already have rolled back on FULL/IOERR)."""
    if not conn.in_transaction:
        return
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        logger.warning("rollback failed", exc_info=True)


def count_at(conn: sqlite3.Connection, policy: CountPolicy, application_id: str, now: int) -> int:
    """The count rule of ``openkms.core.counting.current_count``, in two cheap queries."""
    horizon = policy.horizon(now)
    cap = policy.cap_factor * largest_n_policy(conn, application_id, horizon)
    if cap <= 0:
        return 0
    return recent_clients(conn, application_id, horizon, cap)


def largest_n_policy(conn: sqlite3.Connection, application_id: str, horizon: int) -> int:
    """The largest N-policy seen for the application since ``horizon`` (0 if none)."""
    (largest_n,) = conn.execute(
        "SELECT max(n_policy) FROM n_policy_seen WHERE application_id = ? AND last_seen >= ?",
        (application_id, horizon),
    ).fetchone()
    return int(largest_n or 0)


def recent_clients(conn: sqlite3.Connection, application_id: str, horizon: int, cap: int) -> int:
    """Clients of the application seen since ``horizon``, counting no further than ``cap``."""
    # LIMIT inside: walk at most ``cap`` index entries however many clients there are.
    (count,) = conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM clients "
        "WHERE application_id = ? AND last_seen >= ? LIMIT ?)",
        (application_id, horizon, cap),
    ).fetchone()
    return int(count)


def read_counters(conn: sqlite3.Connection, host_id: str) -> Counters:
    """The cumulative counters of one host."""
    rows = conn.execute(
        "SELECT license_status, total, failed FROM counters WHERE host_id = ?", (host_id,)
    ).fetchall()
    counters = Counters()
    for status, total, failed in rows:
        counters.total += total
        counters.failed += failed
        counters.by_status[int(status)] = int(total)
    return counters


def read_events(conn: sqlite3.Connection, query: EventQuery) -> list[EventRecord]:
    """Events matching ``query`` (since and until inclusive), oldest first."""
    where = ["seq > ?"]
    params: list[object] = [query.after_seq]
    if query.event_ids:
        where.append(f"event_id IN ({', '.join('?' * len(query.event_ids))})")
        params.extend(query.event_ids)
    if query.since is not None:
        where.append("time >= ?")
        params.append(query.since)
    if query.until is not None:
        where.append("time <= ?")
        params.append(query.until)
    params.append(max(query.limit, 0))
    conditions = " AND ".join(where)
    # Only placeholders are interpolated; every value goes through ``params``.
    sql = f"SELECT seq, event_id, time, info FROM events WHERE {conditions} "  # noqa: S608
    rows = conn.execute(sql + "ORDER BY seq LIMIT ?", params).fetchall()
    return [EventRecord(event_id, time, info, seq) for seq, event_id, time, info in rows]


def read_clients(conn: sqlite3.Connection, query: ClientQuery) -> list[ClientRecord]:
    """Clients matching ``query``, most recently seen first."""
    where = ["1"]
    params: list[object] = []
    if query.application_id is not None:
        where.append("application_id = ?")
        params.append(query.application_id)
    if query.seen_since is not None:
        where.append("last_seen >= ?")
        params.append(query.seen_since)
    params += [max(query.limit, 0), max(query.offset, 0)]
    conditions = " AND ".join(where)
    # Only placeholders are interpolated; every value goes through ``params``.
    sql = f"SELECT {_CLIENT_COLUMNS} FROM clients WHERE {conditions} "  # noqa: S608
    sql += "ORDER BY last_seen DESC, application_id, cmid LIMIT ? OFFSET ?"
    return [ClientRecord(*row) for row in conn.execute(sql, params).fetchall()]


class RecordBatch:
    """Applies the requests of one write transaction with as few statements as possible.

    Per request only the client upsert remains: events are inserted with one
    ``executemany`` and counters added once per (host, status) at ``flush()``, and the count
    rule's two queries are answered from what this transaction already knows whenever that
    is exact (no other writer can change the tables while it holds the write lock):

    * an N-policy already upserted in this batch at the same or a later time needs no upsert;
    * the cap (``cap_factor`` x the largest recent N-policy) only changes when an N-policy
      row does, so it is queried once per application and horizon;
    * within one horizon, clients' ``last_seen`` only grows, so a count that reached the cap
      stays at the cap.

    Call ``flush()`` before any other statement runs on the connection, and make a new batch
    for every transaction.
    """

    def __init__(self, policy: CountPolicy) -> None:
        self._policy = policy
        self._events: list[tuple[object, ...]] = []
        self._counters: dict[tuple[str, int], list[int]] = {}
        self._n_seen: dict[tuple[str, int], int] = {}
        self._caps: dict[tuple[str, int], int] = {}
        self._full: set[tuple[str, int, int]] = set()  # (application, horizon, cap) at cap

    def apply(self, conn: sqlite3.Connection, request: RequestRecord) -> int:
        """Record one request; return the application's count after it."""
        event = request.event
        self._events.append(
            (
                event.event_id,
                event.time,
                event.info,
                request.cmid,
                request.activation_id,
                hresult(event.info),
            )
        )
        totals = self._counters.setdefault((request.host_id, request.license_status), [0, 0])
        totals[0] += 1
        totals[1] += request.failed
        if request.counted:
            self._upsert_client(conn, request)
        return self._count(conn, request.application_id, request.time)

    def flush(self, conn: sqlite3.Connection) -> None:
        """Write the events and counters gathered so far."""
        if self._events:
            conn.executemany(INSERT_EVENT, self._events)
            self._events.clear()
        if self._counters:
            conn.executemany(
                ADD_COUNTERS,
                [(host, status, t, f) for (host, status), (t, f) in self._counters.items()],
            )
            self._counters.clear()

    def forget(self) -> None:
        """Drop what this batch knows: another statement changed the tables."""
        self._n_seen.clear()
        self._caps.clear()
        self._full.clear()

    def _upsert_client(self, conn: sqlite3.Connection, request: RequestRecord) -> None:
        app, t = request.application_id, request.time
        conn.execute(
            UPSERT_CLIENT,
            (app, request.cmid, request.activation_id, request.machine_name, t, t,
             request.license_status, request.n_policy),
        )  # fmt: skip
        key = (app, request.n_policy)
        if self._n_seen.get(key, t - 1) < t:
            conn.execute(UPSERT_N_POLICY, (app, request.n_policy, t))
            self._n_seen[key] = t
            self._caps.clear()
            self._full.clear()

    def _count(self, conn: sqlite3.Connection, application_id: str, now: int) -> int:
        horizon = self._policy.horizon(now)
        cap = self._caps.get((application_id, horizon))
        if cap is None:
            cap = self._policy.cap_factor * largest_n_policy(conn, application_id, horizon)
            self._caps[(application_id, horizon)] = cap
        if cap <= 0:
            return 0
        if (application_id, horizon, cap) in self._full:
            return cap
        count = recent_clients(conn, application_id, horizon, cap)
        if count >= cap:
            self._full.add((application_id, horizon, cap))
        return count


def hresult(info: str) -> int | None:
    """The HRESULT leading an Info string, for indexed queries; None if it is not one."""
    head = info.split(",", 1)[0].strip()
    try:
        return int(head, 16)
    except ValueError:
        return None
