"""The serving host's DNS publishing in a child process (host/dns_runner.py, host/dns_child.py).

The real child publishes to a silent UDP port (an update that times out: a failed cycle with
its 12293, no network needed); stand-in children hang, crash, answer garbage or find the
settings unresolvable, and the host logs each as the runner says, kills what hangs, and
never raises.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkms.core.codes import ResultCode
from openkms.core.events import EventRecord
from openkms.core.host_settings import HostSettings
from openkms.dns.status import read_status
from openkms.host import dns_runner
from openkms.host.dns_runner import (
    ChildPublisher,
    CycleOutcome,
    DnsSettings,
    LogLine,
    child_deadline,
)
from openkms.host.state import HostState


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A UDP port that never answers: every update to it times out."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def _state(directory: Path, server: str) -> HostState:
    state = HostState(directory, machine="test-machine")
    state.update_settings(
        dns_servers=[server],
        dns_domain="example.test",
        dns_target="kms1.example.test",
        dns_timeout=0.3,
    )
    return state


def _cycle(publisher: ChildPublisher, state: HostState) -> None:
    async def one() -> None:
        await publisher.cycle(publisher._inputs())

    asyncio.run(one())


def _publisher(
    state: HostState, events: list[EventRecord], *child: str, deadline: float | None = None
) -> ChildPublisher:
    async def log_event(event: EventRecord) -> None:
        events.append(event)

    command = (sys.executable, "-c", *child) if child else None
    if command is None:
        return ChildPublisher(state, log_event, [("127.0.0.1", 1688)], deadline=deadline)
    return ChildPublisher(
        state, log_event, [("127.0.0.1", 1688)], command=command, deadline=deadline
    )


def test_the_real_child_publishes_and_the_host_logs_its_12293(
    tmp_path: Path, silent_server: str
) -> None:
    state = _state(tmp_path, silent_server)
    events: list[EventRecord] = []
    _cycle(_publisher(state, events), state)
    assert [(e.event_id, e.info) for e in events] == [
        (12293, f"{ResultCode.TIMEOUT.hex},example.test")
    ]
    status = read_status(tmp_path)
    assert status is not None and status.enabled
    assert status.record.endswith(" SRV kms1.example.test:1688")
    assert [(d.domain, d.result) for d in status.domains] == [
        ("example.test", ResultCode.TIMEOUT.hex)
    ]


def test_a_child_that_hangs_is_killed_at_its_deadline(tmp_path: Path, silent_server: str) -> None:
    state = _state(tmp_path, silent_server)
    events: list[EventRecord] = []
    pid_file = tmp_path / "child.pid"
    hang = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    _cycle(_publisher(state, events, hang, deadline=1.0), state)
    assert [(e.event_id, e.hresult) for e in events] == [(12293, int(ResultCode.TIMEOUT))]
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    status = read_status(tmp_path)
    assert status is not None
    assert status.domains[0].result == ResultCode.TIMEOUT.hex
    assert "killed" in status.domains[0].message


def test_a_cancelled_cycle_kills_its_child(tmp_path: Path, silent_server: str) -> None:
    state = _state(tmp_path, silent_server)
    pid_file = tmp_path / "child.pid"
    hang = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    publisher = _publisher(state, [], hang, deadline=60.0)

    async def cancel_it() -> None:
        task = asyncio.ensure_future(publisher.run())
        while not pid_file.exists() or not pid_file.read_text():
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(cancel_it(), 30))
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


@pytest.mark.parametrize(
    ("child", "relayed"),
    [
        ("import sys; sys.stderr.write('boom\\n'); sys.exit(1)", "DNS publishing process: boom"),
        ("import sys; sys.stdout.write('{not json'); sys.exit(0)", "answered garbage"),
        ("import os; os.kill(os.getpid(), 9)", "exit status -9"),
    ],
)
def test_a_child_that_fails_is_a_failed_cycle(
    tmp_path: Path,
    silent_server: str,
    caplog: pytest.LogCaptureFixture,
    child: str,
    relayed: str,
) -> None:
    state = _state(tmp_path, silent_server)
    events: list[EventRecord] = []
    with caplog.at_level(logging.INFO, logger="openkms.dns"):
        _cycle(_publisher(state, events, child), state)
    assert [(e.event_id, e.info) for e in events] == [
        (12293, f"{ResultCode.INTERNAL_ERROR.hex},kms1.example.test")
    ]
    assert relayed in caplog.text


def test_unresolvable_settings_log_and_change_nothing(
    tmp_path: Path, silent_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    state = _state(tmp_path, silent_server)
    events: list[EventRecord] = []
    line = msgspec.json.encode(LogLine(logging.WARNING, "DNS publishing not configured: x"))
    child = f"import sys; sys.stderr.buffer.write({line!r} + b'\\n'); sys.exit(2)"
    with caplog.at_level(logging.INFO, logger="openkms.dns"):
        _cycle(_publisher(state, events, child), state)
    assert events == []
    assert read_status(tmp_path) is None
    assert "DNS publishing not configured: x" in caplog.text


def test_publishing_switched_off_is_recorded_without_a_child(
    tmp_path: Path, silent_server: str
) -> None:
    state = _state(tmp_path, silent_server)
    events: list[EventRecord] = []
    never = "raise SystemExit('a child was started')"
    publisher = _publisher(state, events, never)
    publisher.status = msgspec.structs.replace(publisher.status, enabled=True)
    state.update_settings(dns_publishing=False)
    _cycle(publisher, state)
    status = read_status(tmp_path)
    assert events == [] and status is not None and not status.enabled


def test_what_publishing_depends_on_is_watched(tmp_path: Path, silent_server: str) -> None:
    state = _state(tmp_path, silent_server)
    publisher = _publisher(state, [])
    before = publisher._inputs()
    state.update_settings(activation_interval=240, low_priority=True)  # not publishing's
    assert publisher._inputs() == before
    state.update_settings(dns_priority=5)
    assert publisher._inputs() != before


def test_the_deadline_grows_with_domains_servers_and_timeout() -> None:
    base = child_deadline(DnsSettings.of(HostSettings(dns_timeout=2.0)))
    assert base == 30.0 + 4.0
    more = child_deadline(
        DnsSettings.of(
            HostSettings(dns_timeout=2.0, dns_publish_list=["a", "b"], dns_servers=["x", "y"])
        )
    )
    assert more == 30.0 + 2 * 2.0 * 3 * 2


def test_publishing_reads_the_port_and_every_dns_setting() -> None:
    """A ``dns_*`` setting added to the host's settings is watched and sent to the child."""
    dns_fields = {f for f in HostSettings.__struct_fields__ if f.startswith("dns_")}
    assert set(DnsSettings.__struct_fields__) == dns_fields | {"port"}
    types = {f.name: f.type for f in msgspec.structs.fields(HostSettings)}
    assert all(f.type == types[f.name] for f in msgspec.structs.fields(DnsSettings))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_any_child_output_is_relayed_without_raising(data: bytes) -> None:
    dns_runner._relay(data)
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(data + b"\x00", type=CycleOutcome)


def test_the_loop_survives_a_failing_event_sink_and_reads_off_the_event_loop(
    tmp_path: Path, silent_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store closing under it does not end publishing; the settings (files, getfqdn)
    are never read on the host's event loop."""
    state = _state(tmp_path, silent_server)
    child = "import sys; sys.exit(1)"  # a failed cycle: one 12293, which the sink refuses
    refused: list[int] = []

    async def broken(event: EventRecord) -> None:
        refused.append(event.event_id)
        raise RuntimeError("store closed")

    publisher = ChildPublisher(
        state, broken, [], command=(sys.executable, "-c", child), poll_seconds=0.01
    )
    threads: list[int] = []
    inputs = publisher._inputs

    def spy() -> object:
        threads.append(threading.get_ident())
        return inputs()

    monkeypatch.setattr(publisher, "_inputs", spy)

    async def main() -> None:
        task = asyncio.ensure_future(publisher.run())
        while len(threads) < 3:
            await asyncio.sleep(0.01)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(main(), 30))
    assert refused == [12293]
    assert threading.get_ident() not in threads


@pytest.mark.parametrize(
    "data", [b"", b"{not json", b'{"settings": 5}', b"x" * (70 * 1024), b"\xff\xfe" * 10]
)
def test_the_child_refuses_a_request_that_is_not_one(data: bytes) -> None:
    """Whatever arrives on its standard input: exit 1, one JSON log line, no outcome."""
    done = subprocess.run(
        [sys.executable, "-m", "openkms.host.dns_child"],
        input=data,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (1, b"")
    lines = [msgspec.json.decode(line, type=LogLine) for line in done.stderr.splitlines()]
    assert [line.level for line in lines] == [logging.ERROR]
    assert "DNS publishing cycle failed" in lines[0].message
