"""The PostgreSQL store's schema: versioned migrations and the statements of a write batch.

One database is shared by every host of a site: one client table and one count per
application, one event log (each row names the host that wrote it), counters and hourly
activity per host. Migration ``i`` (0-based) takes the schema from version ``i`` to ``i + 1``
(the single row of ``openkms_schema``); append only, never edit one that has shipped.

Writers of every host serialise on a transaction-level advisory lock per application
(``app_lock_key``) before they touch its clients, so that each batch sees, as in SQLite,
every count change committed before it and no other writer can change it meanwhile.
"""

from __future__ import annotations

import hashlib
from typing import Final

from openkms.core import settings

__all__ = [
    "ADD_ACTIVITY",
    "ADD_COUNTERS",
    "APP_LOCK",
    "FUTURE_CLIENTS",
    "INSERT_EVENT",
    "LOCK_CLASS",
    "MIGRATIONS",
    "MIGRATION_LOCK",
    "PRUNE_LOCK",
    "SEE_HOST",
    "SET_ACTIVATED",
    "UPSERT_CLIENT",
    "UPSERT_N_POLICY",
    "app_lock_key",
    "schema_version",
]

MIGRATIONS: Final[list[tuple[str, ...]]] = [
    (
        "CREATE TABLE openkms_schema (version INTEGER NOT NULL)",
        "INSERT INTO openkms_schema VALUES (0)",
        # An identity column never reuses a number, so an ``after_seq`` cursor never sees
        # one twice; across hosts numbers follow the order of insertion, not of commit.
        """CREATE TABLE events (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            event_id INTEGER NOT NULL,
            time BIGINT NOT NULL,
            info TEXT NOT NULL,
            cmid TEXT,
            activation_id TEXT,
            hresult BIGINT,
            host_id TEXT
        )""",
        "CREATE INDEX events_time ON events (time)",
        "CREATE INDEX events_cmid ON events (cmid) WHERE cmid IS NOT NULL",
        "CREATE INDEX events_failed ON events (time) WHERE event_id = 12290 AND hresult <> 0",
        "CREATE INDEX events_other ON events (time) WHERE event_id <> 12290",
        """CREATE TABLE clients (
            application_id TEXT NOT NULL,
            cmid TEXT NOT NULL,
            activation_id TEXT NOT NULL,
            machine_name TEXT NOT NULL,
            first_seen BIGINT NOT NULL,
            last_seen BIGINT NOT NULL,
            license_status INTEGER NOT NULL,
            n_policy INTEGER NOT NULL,
            requests BIGINT NOT NULL,
            host_id TEXT NOT NULL,
            PRIMARY KEY (application_id, cmid)
        )""",
        # The count query walks this index and stops after ``cap`` rows.
        "CREATE INDEX clients_recent ON clients (application_id, last_seen)",
        """CREATE TABLE n_policy_seen (
            application_id TEXT NOT NULL,
            n_policy INTEGER NOT NULL,
            last_seen BIGINT NOT NULL,
            PRIMARY KEY (application_id, n_policy)
        )""",
        """CREATE TABLE counters (
            host_id TEXT NOT NULL,
            license_status INTEGER NOT NULL,
            total BIGINT NOT NULL,
            failed BIGINT NOT NULL,
            PRIMARY KEY (host_id, license_status)
        )""",
        # Per host, so that two hosts never wait on each other's row: a chart sums them.
        """CREATE TABLE activity_hourly (
            hour BIGINT NOT NULL,
            host_id TEXT NOT NULL,
            succeeded BIGINT NOT NULL,
            failed BIGINT NOT NULL,
            PRIMARY KEY (hour, host_id)
        )""",
        # The hosts sharing the database, as their requests show them (status pages).
        """CREATE TABLE hosts (
            host_id TEXT PRIMARY KEY,
            first_request BIGINT NOT NULL,
            last_request BIGINT NOT NULL
        )""",
    ),
    (
        # 2: when the host last gave each client a ticket (``core.derived_state``). Older
        # stores never kept it: a client that reported Licensed with its last (accepted)
        # request is taken to have renewed then; the others as never activated.
        "ALTER TABLE clients ADD COLUMN last_activated BIGINT",
        "UPDATE clients SET last_activated = last_seen WHERE license_status = 1",
    ),
    (
        # 3: the admin dashboard at a million clients (docs/postgresql.md). The sort by
        # machine name walks an index instead of sorting every client.
        "CREATE INDEX clients_name ON clients (application_id, machine_name)",
        # Clients by product, reported status and hour of last_seen, kept by a trigger in
        # the writer's transaction (the application's advisory lock orders the writers).
        """CREATE TABLE client_totals (
            application_id TEXT NOT NULL,
            hour BIGINT NOT NULL,
            activation_id TEXT NOT NULL,
            license_status INTEGER NOT NULL,
            clients BIGINT NOT NULL,
            PRIMARY KEY (application_id, hour, activation_id, license_status)
        )""",
        """CREATE FUNCTION openkms_client_totals() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                UPDATE client_totals SET clients = clients - 1
                WHERE application_id = OLD.application_id
                    AND hour = OLD.last_seen / 3600
                    AND activation_id = OLD.activation_id
                    AND license_status = OLD.license_status;
            END IF;
            IF TG_OP IN ('UPDATE', 'INSERT') THEN
                INSERT INTO client_totals VALUES (NEW.application_id, NEW.last_seen / 3600,
                    NEW.activation_id, NEW.license_status, 1)
                ON CONFLICT (application_id, hour, activation_id, license_status)
                DO UPDATE SET clients = client_totals.clients + 1;
            END IF;
            RETURN NULL;
        END $$""",
        """CREATE TRIGGER clients_totals_insert_delete AFTER INSERT OR DELETE ON clients
        FOR EACH ROW EXECUTE FUNCTION openkms_client_totals()""",
        """CREATE TRIGGER clients_totals_update AFTER UPDATE ON clients FOR EACH ROW
        WHEN (OLD.application_id IS DISTINCT FROM NEW.application_id
            OR OLD.activation_id IS DISTINCT FROM NEW.activation_id
            OR OLD.license_status IS DISTINCT FROM NEW.license_status
            OR OLD.last_seen / 3600 IS DISTINCT FROM NEW.last_seen / 3600)
        EXECUTE FUNCTION openkms_client_totals()""",
        """INSERT INTO client_totals
            SELECT application_id, last_seen / 3600, activation_id, license_status, count(*)
            FROM clients GROUP BY 1, 2, 3, 4""",
        # The search by substring: pg_trgm's GIN index (whose pending list keeps the
        # indexing off the request's commit). pg_trgm ships with PostgreSQL (contrib) and is
        # a trusted extension; where it cannot be created, searches scan (docs/postgresql.md).
        """DO $$ BEGIN
            CREATE EXTENSION IF NOT EXISTS pg_trgm;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'pg_trgm is not available (%): client searches scan', SQLERRM;
        END $$""",
        # The operator class by the extension's schema, wherever it was installed.
        """DO $$ DECLARE trgm TEXT; BEGIN
            SELECT extnamespace::regnamespace::text INTO trgm
                FROM pg_extension WHERE extname = 'pg_trgm';
            IF trgm IS NOT NULL THEN
                EXECUTE format('CREATE INDEX clients_text ON clients USING gin '
                    '(machine_name %1$s.gin_trgm_ops, cmid %1$s.gin_trgm_ops)', trgm);
            END IF;
        END $$""",
    ),
]

# Advisory locks of the store: (LOCK_CLASS, key) pairs, the class keeps clear of others'.
LOCK_CLASS: Final = 0x4F4B4D53  # 'OKMS', an int4
MIGRATION_LOCK: Final = 1
PRUNE_LOCK: Final = 2
APP_LOCK: Final = "SELECT pg_advisory_xact_lock($1::int4, $2::int4)"


def app_lock_key(application_id: str) -> int:
    """The advisory lock key of one application: the same on every host (a signed int4)."""
    digest = hashlib.blake2b(application_id.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def schema_version() -> int:
    """The schema version this code writes."""
    return len(MIGRATIONS)


INSERT_EVENT: Final = (
    "INSERT INTO events (event_id, time, info, cmid, activation_id, hresult, host_id) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7)"
)
# A batch's requests are added at once: (host, status, total, failed).
ADD_COUNTERS: Final = (
    "INSERT INTO counters VALUES ($1, $2, $3, $4) ON CONFLICT (host_id, license_status) "
    "DO UPDATE SET total = counters.total + excluded.total, "
    "failed = counters.failed + excluded.failed"
)
ADD_ACTIVITY: Final = (
    "INSERT INTO activity_hourly VALUES ($1, $2, $3, $4) ON CONFLICT (hour, host_id) "
    "DO UPDATE SET succeeded = activity_hourly.succeeded + excluded.succeeded, "
    "failed = activity_hourly.failed + excluded.failed"
)
SEE_HOST: Final = (
    "INSERT INTO hosts VALUES ($1, $2, $3) ON CONFLICT (host_id) DO UPDATE SET "
    "first_request = least(hosts.first_request, excluded.first_request), "
    "last_request = greatest(hosts.last_request, excluded.last_request)"
)


def _takes_request(table: str) -> str:
    """Whether a stored row takes the request's values: the request is at least as recent,
    or the row is dated in the future beyond the tolerance of the request's time (the
    host's clock was ahead): ``openkms.core.counting.seen_again``."""
    tolerance = int(settings.COUNT_FUTURE_TOLERANCE_SECONDS)
    return (
        f"(excluded.last_seen >= {table}.last_seen "
        f"OR {table}.last_seen > excluded.last_seen + {tolerance})"
    )


# Descriptive fields follow the most recent request, even if requests arrive out of order.
UPSERT_CLIENT: Final = f"""
INSERT INTO clients VALUES ($1, $2, $3, $4, $5, $5, $6, $7, 1, $8, NULL)
ON CONFLICT (application_id, cmid) DO UPDATE SET
    (activation_id, machine_name, license_status, n_policy, host_id, last_seen) = (
        SELECT CASE WHEN newer THEN excluded.activation_id ELSE clients.activation_id END,
            CASE WHEN newer THEN excluded.machine_name ELSE clients.machine_name END,
            CASE WHEN newer THEN excluded.license_status ELSE clients.license_status END,
            CASE WHEN newer THEN excluded.n_policy ELSE clients.n_policy END,
            CASE WHEN newer THEN excluded.host_id ELSE clients.host_id END,
            CASE WHEN newer THEN excluded.last_seen ELSE clients.last_seen END
        FROM (SELECT {_takes_request("clients")} AS newer) AS latest),
    first_seen = least(clients.first_seen, excluded.first_seen),
    requests = clients.requests + 1
"""  # noqa: S608 (the only interpolation is an integer constant)
# The client of a request that earned a ticket (after its upsert, in the same batch).
SET_ACTIVATED: Final = (
    "UPDATE clients SET last_activated = greatest(last_activated, $3) "
    "WHERE application_id = $1 AND cmid = $2"
)
UPSERT_N_POLICY: Final = f"""
INSERT INTO n_policy_seen VALUES ($1, $2, $3) ON CONFLICT (application_id, n_policy)
DO UPDATE SET last_seen = CASE WHEN {_takes_request("n_policy_seen")}
    THEN excluded.last_seen ELSE n_policy_seen.last_seen END
"""  # noqa: S608 (the only interpolation is an integer constant)
LARGEST_N_POLICY: Final = (
    "SELECT coalesce(max(n_policy), 0) FROM n_policy_seen "
    "WHERE application_id = $1 AND last_seen BETWEEN $2 AND $3"
)
# LIMIT inside: walk at most ``cap`` index entries however many clients there are.
RECENT_CLIENTS: Final = (
    "SELECT count(*) FROM (SELECT 1 FROM clients "
    "WHERE application_id = $1 AND last_seen BETWEEN $2 AND $3 LIMIT $4) AS recent"
)
FUTURE_CLIENTS: Final = "SELECT count(*) FROM clients WHERE application_id = $1 AND last_seen > $2"
