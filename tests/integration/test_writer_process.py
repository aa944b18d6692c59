"""The store's writer process: crashes, a full disk, signals and a vanished parent."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from openkms.core.codes import ResultCode
from openkms.errors import StoreError
from openkms.store._process_writer import ProcessWriter
from openkms.store.base import ClientQuery
from openkms.store.sqlite import SqliteReader, SqliteStore

sys.path.insert(0, str(Path(__file__).parent.parent / "unit"))

from test_store import HOST, req


def _writer(store: SqliteStore) -> ProcessWriter:
    assert isinstance(store.writer, ProcessWriter)
    return store.writer


def _child(store: SqliteStore) -> int:
    pid = _writer(store).pid
    assert pid is not None
    return pid


def _writers_of(path: Path) -> list[int]:
    """PIDs of writer processes serving ``path`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"openkms.store._writer_process" in argv and str(path).encode() in argv:
            found.append(int(entry.name))
    return found


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except OSError:
            return True
        if state == "Z":  # exited, not yet reaped by its parent
            return True
        time.sleep(0.02)
    return False


def test_a_killed_writer_fails_its_requests_and_a_new_one_takes_over(tmp_path: Path) -> None:
    path = tmp_path / "host.db"

    async def main() -> None:
        # No back-off: the writer may be replaced however soon after starting it dies.
        store = SqliteStore(path, writer="process", restart_backoff=0)
        await store.open()
        try:
            assert await store.record(req("before")) == 1
            first = _child(store)
            os.kill(first, signal.SIGKILL)
            # Whatever was sent to the dead writer fails with a clear error, never hangs.
            outcomes = await asyncio.wait_for(
                asyncio.gather(*(store.record(req(f"k{i}")) for i in range(20)),
                               return_exceptions=True),
                30,
            )  # fmt: skip
            errors = [o for o in outcomes if isinstance(o, BaseException)]
            assert all(isinstance(e, StoreError) for e in errors)
            assert all("writer process" in str(e) for e in errors)
            # The next requests go to a new writer, which sees what the old one committed.
            count = await asyncio.wait_for(store.record(req("after")), 30)
            assert count >= 2
            assert _child(store) != first
            assert await store.current_count("app", 0) >= 0
        finally:
            await store.close()

    asyncio.run(main())
    with SqliteReader(path) as reader:
        stored = {c.cmid for c in reader.clients(ClientQuery(limit=1000))}
    assert {"before", "after"} <= stored
    assert not _writers_of(path)


def test_a_write_error_fails_the_batch_and_the_writer_recovers(tmp_path: Path) -> None:
    """A real write failure in the child: its file-size limit makes write() fail (EFBIG)."""
    path = tmp_path / "host.db"

    async def main() -> None:
        store = SqliteStore(path, writer="process")
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        await store.open()
        try:
            pid = _child(store)
            await store.record(req("first"))
            size = path.stat().st_size + (tmp_path / "host.db-wal").stat().st_size
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (size, hard))
            with pytest.raises(StoreError) as info:
                for i in range(2000):  # enough to outgrow the WAL's current size
                    await store.record(req(f"full-{i}"))
            assert str(path) in info.value.message
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))
            assert await store.record(req("after")) >= 2
            assert _child(store) == pid  # the same writer, not a restart
        finally:
            await store.close()

    asyncio.run(main())
    with SqliteReader(path) as reader:
        assert reader.counters(HOST).total >= 2


def test_records_of_one_loop_iteration_go_in_one_frame_and_a_bad_one_fails_alone(
    tmp_path: Path,
) -> None:
    """The records submitted together travel as one frame; one that cannot be encoded (a
    lone surrogate, which no decoded request can carry) fails at once, the others commit."""
    path = tmp_path / "host.db"

    async def main() -> None:
        store = SqliteStore(path, writer="process")
        await store.open()
        try:
            bad = msgspec.structs.replace(req("bad"), machine_name="pc-\ud800")
            futures = [store.submit_record(req(f"ok-{i}")) for i in range(3)]
            futures.insert(1, store.submit_record(bad))
            futures.append(store.submit_record(req("ok-3")))
            outcomes = await asyncio.wait_for(
                asyncio.gather(*futures, return_exceptions=True), timeout=30
            )
            assert isinstance(outcomes[1], StoreError)
            assert outcomes[:1] + outcomes[2:] == [1, 2, 3, 4]
            assert await store.record(req("after")) == 5  # the writer goes on
        finally:
            await store.close()

    asyncio.run(main())
    with SqliteReader(path) as reader:
        assert reader.counters(HOST).total == 5


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MiB file system (tmpfs), so that the disk really fills up."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_0x80070070_and_writes_resume_when_space_is_freed(
    small_disk: Path,
) -> None:
    path = small_disk / "host.db"
    filler = small_disk / "filler"

    async def main() -> None:
        async with SqliteStore(path, writer="process") as store:
            await store.record(req("first"))
            free = os.statvfs(small_disk)
            filler.write_bytes(b"\0" * (free.f_bavail * free.f_frsize - 64 * 1024))
            with pytest.raises(StoreError) as info:
                for i in range(5000):
                    await store.record(req(f"full-{i}"))
            assert info.value.code is ResultCode.DISK_FULL
            assert "disk is full" in info.value.message
            acknowledged = i
            filler.unlink()
            assert await store.record(req("after")) >= 2
            return acknowledged

    acknowledged = asyncio.run(main())
    with SqliteReader(path) as reader:
        stored = {c.cmid for c in reader.clients(ClientQuery(limit=10_000))}
    assert {"first", "after"} | {f"full-{i}" for i in range(acknowledged)} <= stored


def test_the_writer_ignores_signals_meant_for_the_host(tmp_path: Path) -> None:
    """Ctrl-C and service managers signal the whole group; the host stops the writer itself."""
    path = tmp_path / "host.db"

    async def main() -> None:
        async with SqliteStore(path, writer="process") as store:
            pid = _child(store)
            os.kill(pid, signal.SIGINT)
            os.kill(pid, signal.SIGTERM)
            await asyncio.sleep(0.2)
            assert await store.record(req("still-here")) == 1
            assert _child(store) == pid
        assert _gone(pid)

    asyncio.run(main())


def test_the_writer_commits_and_exits_when_its_parent_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "host.db"
    script = f"""
import asyncio, sys
sys.path.insert(0, {str(Path(__file__).parent.parent / "unit")!r})
from test_store import req
from openkms.store.sqlite import SqliteStore

async def main():
    store = SqliteStore({str(path)!r}, writer="process")
    await store.open()
    for i in range(50):
        await store.record(req(f"p{{i}}"))
    print("recorded", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    ) as parent:
        try:
            assert parent.stdout is not None
            assert parent.stdout.readline().strip() == "recorded"
            (writer,) = _writers_of(path)
            parent.kill()
            parent.wait(10)
            assert _gone(writer), "the writer outlived its killed parent"
        finally:
            parent.kill()
    with SqliteReader(path) as reader:
        assert reader.counters(HOST).total == 50


def test_a_writer_that_cannot_restart_fails_fast_then_retries(tmp_path: Path) -> None:
    """Store directory gone: the restart fails with the reason, and writes do not spawn a
    child each while it stays gone; once it is back, the next write restarts the writer."""
    directory = tmp_path / "store"
    directory.mkdir()
    path = directory / "host.db"

    async def main() -> None:
        store = SqliteStore(path, writer="process", restart_backoff=0)
        await store.open()
        try:
            await store.record(req("a"))
            os.kill(_child(store), signal.SIGKILL)
            aside = tmp_path / "aside"
            directory.rename(aside)
            with contextlib.suppress(StoreError):
                await asyncio.wait_for(store.record(req("lost")), 30)
            _writer(store).restart_backoff = 3600.0
            with pytest.raises(StoreError, match="does not exist"):
                await asyncio.wait_for(store.record(req("b")), 30)
            started = time.monotonic()
            with pytest.raises(StoreError, match="does not exist"):
                await store.record(req("c"))  # within the back-off: no new child
            assert time.monotonic() - started < 0.1
            assert _writer(store).pid is None
            aside.rename(directory)
            _writer(store).restart_backoff = 0.0  # the back-off has passed
            assert await asyncio.wait_for(store.record(req("d")), 30) == 2
        finally:
            await store.close()

    asyncio.run(main())


def test_a_writer_that_keeps_dying_is_restarted_at_most_once_per_back_off(
    tmp_path: Path,
) -> None:
    path = tmp_path / "host.db"

    async def main() -> None:
        async with SqliteStore(path, writer="process", restart_backoff=0) as store:
            os.kill(_child(store), signal.SIGKILL)
            with contextlib.suppress(StoreError):
                await asyncio.wait_for(store.record(req("a")), 30)
            assert await asyncio.wait_for(store.record(req("b")), 30) >= 1  # restarted
            _writer(store).restart_backoff = 3600.0
            second = _child(store)
            os.kill(second, signal.SIGKILL)  # dies again at once
            # Lost with the child, or failed at once if its death was seen first.
            with pytest.raises(StoreError, match="stopped before answering"):
                await asyncio.wait_for(store.record(req("c")), 30)
            started = time.monotonic()
            with pytest.raises(StoreError, match="stopped before answering"):
                await store.record(req("c2"))  # within the back-off: no new child
            assert time.monotonic() - started < 0.1
            assert _writer(store).pid in (None, second)  # no new child
            _writer(store).restart_backoff = 0.0  # the back-off has passed
            assert await asyncio.wait_for(store.record(req("d")), 30) >= 2

    asyncio.run(main())
