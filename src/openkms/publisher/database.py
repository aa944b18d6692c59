"""Opening the publisher's records: SQLite or PostgreSQL, and the one-time ledger import.

Before records existed the publisher kept ``host-keys.json`` (a JSON ledger of host keys and
the hosts that activated with them). The first open of the records of such a directory
imports it once and renames it ``host-keys.json.imported`` (kept, never read again). A
read-only open of a directory without a database imports it into memory instead, so that a
report changes nothing on disk.

A read-only open (``readonly=True``: ``publisher report``, ``list-keys``) writes nothing at
all: SQLite is opened ``mode=ro`` or ``immutable`` (no file created, no migration, works on
a read-only copy and beside a running service), PostgreSQL in read-only transactions.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import msgspec

from openkms._files import read_bytes
from openkms.core.catalog import Catalog
from openkms.core.keys import KeyKind, ProductKey
from openkms.errors import KeyFormatError, StateError, StoreError
from openkms.i18n import _
from openkms.publisher._records_sqlite import SqliteRecords
from openkms.publisher.records import IssuedKey, MachineActivation, PublisherRecords

__all__ = ["DATABASE_FILE", "LEDGER_FILE", "BlockingRecords", "open_records"]

DATABASE_FILE = "publisher.db"
LEDGER_FILE = "host-keys.json"
_T = TypeVar("_T")
log = logging.getLogger("openkms.publisher")


class _LedgerEntry(msgspec.Struct):
    key: str
    group: str
    issued_at: int
    activations: dict[str, int] = msgspec.field(default_factory=dict)


class _Ledger(msgspec.Struct):
    host_keys: dict[str, _LedgerEntry] = msgspec.field(default_factory=dict)


async def open_records(
    directory: Path, database: str | None, catalog: Catalog, *, readonly: bool = False
) -> PublisherRecords:
    """Open (and migrate) the records of ``directory``; import an older ledger once.

    ``database`` is a PostgreSQL DSN, or None for ``DIR/publisher.db``. The caller closes
    the records.
    """
    path = directory / DATABASE_FILE
    records: PublisherRecords
    if database:
        # asyncpg is loaded only for a PostgreSQL DSN: every command imports this module.
        from openkms.publisher._records_pg import PostgresRecords  # noqa: PLC0415

        records = PostgresRecords(database, readonly=readonly)
    elif readonly and not path.exists():
        records = SqliteRecords(None)
    else:
        records = SqliteRecords(path, readonly=readonly)
    await records.open()
    if readonly and (database or path.exists()):
        if (directory / LEDGER_FILE).exists():  # a read-only database cannot take it
            log.warning("%s is not imported yet: a writing command imports it", LEDGER_FILE)
        return records
    try:
        await _import_ledger(directory, records, catalog, keep=readonly)
    except BaseException:
        await records.close()
        raise
    return records


async def _import_ledger(
    directory: Path, records: PublisherRecords, catalog: Catalog, *, keep: bool
) -> None:
    path = directory / LEDGER_FILE
    if not path.exists():
        return
    try:
        ledger = msgspec.json.decode(read_bytes(path, _("host-key ledger")), type=_Ledger)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise StateError(_("{path} is corrupt: {exc}").format(path=path, exc=exc)) from None
    for key_id, entry in ledger.host_keys.items():
        key = _ledger_key(key_id, entry, catalog)
        machines = tuple(
            MachineActivation(key_id, machine, "", entry.issued_at, entry.issued_at, count)
            for machine, count in entry.activations.items()
        )
        await records.import_key(key, machines, "import:" + LEDGER_FILE)
    if not keep:
        try:
            os.replace(path, path.with_name(LEDGER_FILE + ".imported"))
        except OSError as exc:
            raise StoreError(
                _("cannot rename {path}: {error}").format(path=path, error=exc.strerror or exc)
            ) from None


def _ledger_key(key_id: str, entry: _LedgerEntry, catalog: Catalog) -> IssuedKey:
    try:
        key = ProductKey.parse(entry.key)
    except KeyFormatError:
        raise StateError(
            _("{ledger_file}: {key!r} is not a product key").format(
                ledger_file=LEDGER_FILE, key=entry.key
            )
        ) from None
    if key.key_id != key_id or key.kind is not KeyKind.HOST:
        raise StateError(
            _("{ledger_file}: entry {key_id} does not match its host key").format(
                ledger_file=LEDGER_FILE, key_id=key_id
            )
        )
    return IssuedKey(
        key_id=key_id,
        key=str(key),
        kind=KeyKind.HOST,
        group=entry.group,
        activation_id=None,
        activations_allowed=catalog.host_key_max_hosts,
        per_machine_limit=catalog.host_key_max_activations,
        issued_at=entry.issued_at,
    )


class BlockingRecords:
    """The records driven from synchronous code (the CLI); ``with`` opens and closes them.

    The records run on an event loop of their own, in one worker thread, so that
    synchronous code called from a running loop (the demo) may use them too. Code that is
    itself async awaits :func:`open_records` instead.
    """

    def __init__(
        self, directory: Path, database: str | None, catalog: Catalog, *, readonly: bool = False
    ) -> None:
        self._args = (directory, database, catalog)
        self._readonly = readonly
        self._runner = asyncio.Runner()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="openkms-publisher-records")
        self._records: PublisherRecords | None = None

    @property
    def records(self) -> PublisherRecords:
        """The open records."""
        if self._records is None:
            raise StoreError(_("the publisher records are closed"))
        return self._records

    def __enter__(self) -> Self:
        try:
            self._records = self.run(open_records(*self._args, readonly=self._readonly))
        except BaseException:
            self._shutdown()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._records is not None:
                self.run(self._records.close())
        finally:
            self._records = None
            self._shutdown()

    def _shutdown(self) -> None:
        self._thread.submit(self._runner.close).result()
        self._thread.shutdown()

    def run(self, work: Coroutine[Any, Any, _T]) -> _T:
        """Run one coroutine (a call of ``self.records``) to its result."""
        return self._thread.submit(self._runner.run, work).result()
