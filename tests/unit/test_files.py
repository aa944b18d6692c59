"""Durable file helpers: a full disk or a forbidden directory is an OpenKMS error, never OSError."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from openkms._files import append_durably, atomic_write, read_bytes
from openkms.client.events import ClientEventLog
from openkms.core.events import make_event
from openkms.errors import StateError, StoreError


def _full(*args: object, **kwargs: object) -> int:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_while_appending_is_a_store_error_with_its_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = ClientEventLog(tmp_path / "events.jsonl")
    log.append(make_event(12294, 1, ("corp.example",)))
    monkeypatch.setattr(os, "write", _full)
    with pytest.raises(StoreError) as info:
        log.append(make_event(12294, 2, ("corp.example",)))
    assert info.value.code.hex == "0x80070070"
    monkeypatch.undo()
    assert [e.time for e in log.read()] == [1]  # what was written before is intact


def test_disk_full_during_an_atomic_write_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "state.json"
    atomic_write(target, b"old")
    monkeypatch.setattr(os, "fsync", _full)
    with pytest.raises(StoreError) as info:
        atomic_write(target, b"new")
    assert info.value.code.hex == "0x80070070"
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_reading_a_missing_or_a_directory_is_a_state_error(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="does not exist"):
        read_bytes(tmp_path / "nope", "client state")
    with pytest.raises(StateError, match="is a directory"):
        read_bytes(tmp_path, "client state")
    append_durably(tmp_path / "log", b"x\n")
    assert read_bytes(tmp_path / "log", "log") == b"x\n"
