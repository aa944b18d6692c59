"""The SQLite store's schema: versioned migrations, and the checks a read-only open makes.

``PRAGMA user_version`` holds the schema version. A writer (``migrate``) brings an older
store up to date; a reader (``check_version``) only reads a store of exactly this version
and otherwise says what to do.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from pathlib import Path
from typing import Final

from openkms.core.codes import ResultCode
from openkms.errors import StoreError
from openkms.i18n import _
from openkms.store.backup import backup_before_migration

__all__ = ["EVENTS_BY_CMID", "MIGRATIONS", "check_version", "migrate", "schema_version"]

logger = logging.getLogger("openkms.store")

# The index of a client's events (schema 5), named by the query that must use it.
EVENTS_BY_CMID: Final = "events_cmid_run"

# The statements of the triggers of schema 4 (shared by insert, update and delete).
_ADD_NEW_TOTAL = """
    INSERT INTO client_totals VALUES
        (new.application_id, new.last_seen / 3600, new.activation_id, new.license_status, 1)
    ON CONFLICT DO UPDATE SET clients = clients + 1;"""
_REMOVE_OLD_TOTAL = """
    UPDATE client_totals SET clients = clients - 1
    WHERE application_id = old.application_id AND hour = old.last_seen / 3600
        AND activation_id = old.activation_id AND license_status = old.license_status;"""
_QUEUE_NEW = """
    INSERT INTO client_text_queue VALUES (new.application_id, new.cmid) ON CONFLICT DO NOTHING;"""
_QUEUE_OLD = """
    INSERT INTO client_text_queue VALUES (old.application_id, old.cmid) ON CONFLICT DO NOTHING;"""

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
    (
        # 3: when the host last gave each client a ticket, from which the dashboard derives
        # the state a client is in now (``core.derived_state``). Older stores never kept it:
        # a client that reported Licensed with its last (accepted) request is taken to have
        # renewed then; the others as never activated by this host.
        "ALTER TABLE clients ADD COLUMN last_activated INTEGER",
        "UPDATE clients SET last_activated = last_seen WHERE license_status = 1",
    ),
    (
        # 4: the admin dashboard at a million clients (docs/architecture.md, "Decisions").
        # The sort by machine name walks an index instead of sorting every client.
        "CREATE INDEX clients_name ON clients (application_id, machine_name)",
        # Clients by product, reported status and hour of last_seen, kept by triggers in the
        # writer's transaction: totals read a few thousand rows instead of counting clients.
        """CREATE TABLE client_totals (
            application_id TEXT NOT NULL,
            hour INTEGER NOT NULL,
            activation_id TEXT NOT NULL,
            license_status INTEGER NOT NULL,
            clients INTEGER NOT NULL,
            PRIMARY KEY (application_id, hour, activation_id, license_status)
        ) WITHOUT ROWID""",
        f"""CREATE TRIGGER clients_totals_insert AFTER INSERT ON clients
        BEGIN {_ADD_NEW_TOTAL} END""",
        f"""CREATE TRIGGER clients_totals_delete AFTER DELETE ON clients
        BEGIN {_REMOVE_OLD_TOTAL} END""",
        f"""CREATE TRIGGER clients_totals_update
        AFTER UPDATE OF application_id, activation_id, license_status, last_seen ON clients
        WHEN old.application_id IS NOT new.application_id
            OR old.activation_id IS NOT new.activation_id
            OR old.license_status IS NOT new.license_status
            OR old.last_seen / 3600 IS NOT new.last_seen / 3600
        BEGIN {_REMOVE_OLD_TOTAL} {_ADD_NEW_TOTAL} END""",
        """INSERT INTO client_totals
            SELECT application_id, last_seen / 3600, activation_id, license_status, count(*)
            FROM clients GROUP BY 1, 2, 3, 4""",
        # The search by substring: an FTS5 trigram index of CMIDs and machine names. Indexing
        # costs about as much CPU as an activation, so it is kept off the request's commit:
        # a trigger queues the changed client, the writer indexes the queue between batches
        # (``_sqlite_text``), and a search also scans the queue, so it is always complete.
        """CREATE TABLE client_text_keys (
            id INTEGER PRIMARY KEY,
            application_id TEXT NOT NULL,
            cmid TEXT NOT NULL,
            UNIQUE (application_id, cmid)
        )""",
        """CREATE VIRTUAL TABLE client_text USING fts5 (
            cmid, machine_name, tokenize = 'trigram', detail = 'none'
        )""",
        """CREATE TABLE client_text_queue (
            application_id TEXT NOT NULL,
            cmid TEXT NOT NULL,
            PRIMARY KEY (application_id, cmid)
        ) WITHOUT ROWID""",
        f"""CREATE TRIGGER clients_text_insert AFTER INSERT ON clients
        BEGIN {_QUEUE_NEW} END""",
        f"""CREATE TRIGGER clients_text_delete AFTER DELETE ON clients
        BEGIN {_QUEUE_OLD} END""",
        f"""CREATE TRIGGER clients_text_update
        AFTER UPDATE OF application_id, cmid, machine_name ON clients
        WHEN old.application_id IS NOT new.application_id OR old.cmid IS NOT new.cmid
            OR old.machine_name IS NOT new.machine_name
        BEGIN {_QUEUE_OLD} {_QUEUE_NEW} END""",
        # The clients of an older store are indexed by the writer after the host started.
        "INSERT INTO client_text_queue SELECT application_id, cmid FROM clients",
    ),
    (
        # 5: a client's events without a page written per event (bench/README.md, "The
        # writer's cost per record"). Keyed by the CMID, every inserted event and every
        # event retention deletes wrote its own page of events_cmid, at a random place;
        # keyed by the CMID's first character and then seq, the new events go at the ends of
        # 16 runs and retention deletes from their starts, a few pages per batch. A client's
        # events are found in its run of about a sixteenth of the events, by the CMID the
        # index holds (``_sqlite_admin.search_events``).
        "DROP INDEX events_cmid",
        f"""CREATE INDEX {EVENTS_BY_CMID} ON events (substr(cmid, 1, 1), seq, cmid)
        WHERE cmid IS NOT NULL""",
    ),
    # 6: the search index moves to a file of its own, kept by a thread from the events
    # (``_sqlite_text``): a new client no longer costs the writer a queue row and its share
    # of the index, about 40 % of its record (bench/README.md). It is built again there.
    (
        "DROP TRIGGER clients_text_insert",
        "DROP TRIGGER clients_text_delete",
        "DROP TRIGGER clients_text_update",
        "DROP TABLE client_text_queue",
        "DROP TABLE client_text",
        "DROP TABLE client_text_keys",
    ),
    # 7: a forgotten client leaves the search index too. Whatever deletes a client row
    # notes its CMID here in the same transaction; the index's thread drops the CMID's
    # entries, and the writer deletes the note once the index holds that on disk
    # (``_sqlite_text``). Only a DELETE fires the trigger: a request costs nothing more.
    (
        """CREATE TABLE clients_forgotten (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            cmid TEXT NOT NULL
        )""",
        """CREATE TRIGGER clients_forget AFTER DELETE ON clients
        BEGIN INSERT INTO clients_forgotten (cmid) VALUES (old.cmid); END""",
    ),
]


def schema_version() -> int:
    """The schema version this code writes."""
    return len(MIGRATIONS)


def _user_version(conn: sqlite3.Connection) -> int:
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    return int(version)


def _newer_error(path: Path, version: int) -> StoreError:
    return StoreError(
        _(
            "the store {path} has schema version {version}: it was written by a "
            "newer OpenKMS (this one reads version {schema_version})"
        ).format(path=path, version=version, schema_version=schema_version()),
        code=ResultCode.UNSUPPORTED_VERSION,
        fix=_(
            "Upgrade OpenKMS on this machine to the version the host runs, or use a store "
            "written by this version."
        ),
    )


def _foreign_error(path: Path) -> StoreError:
    return StoreError(
        _("{path} is an SQLite database but not an OpenKMS store").format(path=path),
        code=ResultCode.STATE_CORRUPT,
        fix=_("Choose another store path; do not point OpenKMS at another program's database."),
    )


def check_version(conn: sqlite3.Connection, path: Path) -> None:
    """Raise StoreError unless the store has exactly the schema version this code reads."""
    version = _user_version(conn)
    if version > schema_version():
        raise _newer_error(path, version)
    if version == 0:
        raise (
            _foreign_error(path)
            if _has_tables(conn)
            else StoreError(
                _("the store {path} is empty").format(path=path),
                fix=_("Start the host once to create the store."),
            )
        )
    if version < schema_version():
        raise StoreError(
            _(
                "the store {path} has the older schema version {version} (this OpenKMS "
                "reads version {schema_version}); reading never upgrades it"
            ).format(path=path, version=version, schema_version=schema_version()),
            code=ResultCode.UNSUPPORTED_VERSION,
            fix=_(
                "Start the host once to upgrade the store ('openkms host serve'), then read "
                "it again."
            ),
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
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        logger.info("store %s migrated to schema version %d", path, step + 1)
    if version == 0:
        # A new store: give back the pages of what later versions dropped (a few, empty).
        conn.execute("VACUUM")
