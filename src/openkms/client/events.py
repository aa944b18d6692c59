"""The client's event log (12288/12289): JSON lines, bounded."""

from __future__ import annotations

import contextlib
from pathlib import Path

import msgspec

from openkms._files import append_durably, atomic_write
from openkms.core.events import EventRecord

__all__ = ["ClientEventLog"]

_DECODER = msgspec.json.Decoder(EventRecord)


class ClientEventLog:
    """Appends events to ``events.jsonl``; keeps the newest ``retention`` of them."""

    def __init__(self, path: Path, retention: int = 10_000) -> None:
        self.path = path
        self.retention = retention

    def append(self, *events: EventRecord) -> None:
        """Append events durably; trim the file when it holds twice the retention."""
        append_durably(self.path, b"".join(msgspec.json.encode(e) + b"\n" for e in events))
        if self.path.stat().st_size > self.retention * 400:
            self._trim()

    def _trim(self) -> None:
        records = self.read()
        keep = records[-self.retention :]
        atomic_write(self.path, b"".join(msgspec.json.encode(e) + b"\n" for e in keep))

    def read(self) -> list[EventRecord]:
        """Every readable event, oldest first (a torn last line is skipped)."""
        records: list[EventRecord] = []
        with contextlib.suppress(FileNotFoundError), self.path.open("rb") as handle:
            for line in handle:
                with contextlib.suppress(msgspec.DecodeError):
                    records.append(_DECODER.decode(line))
        return [msgspec.structs.replace(r, seq=i) for i, r in enumerate(records, start=1)]
