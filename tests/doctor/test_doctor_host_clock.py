"""The host's clock in ``dli`` and ``doctor host``: its last jump, clients dated in the future."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from doctor.hostclock import AHEAD, serve_clock_set_back
from doctor.sitetools import doctor_json, one
from openkms.cli.main import cli
from openkms.core.events import EventRecord
from openkms.doctor.stores._hostclock import clock_findings
from openkms.host.clock import ClockJump, clock_jump_event, jump_of, read_host_clock
from openkms.store.memory import MemoryStore

from helpers import make_site

DAY = 86400
NOW = 1_800_000_000


def test_dli_shows_the_last_jump_and_the_clients_dated_in_the_future(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    assert serve_clock_set_back(site, tmp_path / "clients", 5) == 5
    store = str(site.host_dir)
    result = CliRunner().invoke(cli, ["host", "--store", store, "dli"])
    assert result.exit_code == 0, result.output
    assert "    Current count: 0" in result.stdout
    assert "    Clients dated in the future (not counted): 5 " in result.stdout
    assert f"    Last clock jump: -{AHEAD} seconds (-0.1 days) at " in result.stdout
    result = CliRunner().invoke(cli, ["host", "--store", store, "dli", "--json"])
    clock = json.loads(result.stdout)["clock"]
    assert (clock["future_clients"], clock["last_jump_seconds"]) == (5, -AHEAD)
    assert abs(clock["last_jump_at"] - time.time()) < 600
    # The doctor: the jump first, with its effect on the count, then the clients.
    code, findings = doctor_json("host", "--store", store, "--address", "127.0.0.1:1")
    jump = one(findings, "host-clock-jump")
    assert jump["severity"] == "warning" and jump["procedure"] == "clock"
    assert "back 3.0 hour(s)" in jump["evidence"]
    assert "5 not counted (current count 0)" in jump["evidence"]
    future = one(findings, "clients-dated-in-future")
    assert future["evidence"].startswith("5 client(s) last seen more than 60 minutes after")
    assert code == 2


def _findings(store: MemoryStore, days: int = 30) -> list[tuple[str, str]]:
    async def main() -> list[tuple[str, str]]:
        found = await clock_findings(store, "app", 7, NOW, days)
        return [(f.check, f.evidence) for f in found]

    return asyncio.run(main())


def test_a_month_forward_moves_the_window_and_an_old_jump_is_no_cause() -> None:
    store = MemoryStore()
    asyncio.run(store.log_event(clock_jump_event(ClockJump(NOW - 2 * DAY, 31 * DAY))))
    ((check, evidence),) = _findings(store)
    assert check == "host-clock-jump"
    assert "forward 31.0 day(s)" in evidence and "leave the count 31.0 day(s) early" in evidence
    assert _findings(store, days=1) == []  # older than the window read


def test_no_jump_and_no_future_client_is_no_finding() -> None:
    assert _findings(MemoryStore()) == []


def test_an_unreadable_jump_event_is_skipped_not_a_traceback() -> None:
    for info in ("0xC004F06C", "0xC004F06C,lots", "0xC004F06C," + "9" * 5000, ""):
        assert jump_of(EventRecord(12321, NOW, info)) is None
    store = MemoryStore()
    asyncio.run(store.log_event(EventRecord(12321, NOW, "0xC004F06C,\udcff")))
    clock = asyncio.run(read_host_clock(store, "app", NOW))
    assert (clock.last_jump_at, clock.future_clients) == (None, 0)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_info_of_a_jump_event_reads_as_a_jump_or_nothing(info: str) -> None:
    jump = jump_of(EventRecord(12321, NOW, info))
    assert jump is None or (jump.at == NOW and isinstance(jump.seconds, int))
