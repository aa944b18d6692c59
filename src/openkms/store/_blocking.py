"""A store reader for synchronous code (a CLI command): a private event loop per reader."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from types import TracebackType
from typing import Any, Self, TypeVar

import msgspec

from openkms.core.events import EventRecord
from openkms.store.base import EVENT_PAGE, EventQuery, HostStoreReader

__all__ = ["BlockingReader"]

T = TypeVar("T")


class BlockingReader:
    """Drives a ``HostStoreReader`` from synchronous code; ``with`` opens and closes it.

    Not for code already running in an event loop: await the reader there.
    """

    def __init__(self, reader: HostStoreReader) -> None:
        self.reader = reader
        self._runner = asyncio.Runner()

    def __enter__(self) -> Self:
        try:
            self._runner.run(self.reader.open())
        except BaseException:
            self._runner.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._runner.run(self.reader.close())
        finally:
            self._runner.close()

    def run(self, read: Coroutine[Any, Any, T]) -> T:
        """Run one coroutine (e.g. a read of ``self.reader``) to its result."""
        return self._runner.run(read)

    def iter_events(self, query: EventQuery, page: int = EVENT_PAGE) -> Iterator[EventRecord]:
        """Every event matching ``query``, oldest first, a page per loop run (exports)."""
        after = query.after_seq
        while True:
            paged = msgspec.structs.replace(query, after_seq=after, limit=page)
            batch = self.run(self.reader.events(paged))
            yield from batch
            if len(batch) < page:
                return
            after = batch[-1].seq
