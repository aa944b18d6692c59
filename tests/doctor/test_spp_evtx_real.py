"""Real Application logs holding Security-SPP events (../shared/evtx-real, see its README):
every SPP event is counted by ID, and none is read as a failure (none of them is an 8198,
8200 or 8208; 1003's status codes and 1066's results are informational)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from openkms.doctor import Severity, check_event_files
from openkms.doctor.events._evtx import DamagedRecordsError, EvtxStats, read_evtx_events

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "evtx-real"
# Security-SPP events by ID in each log, as the Rust parser renders them.
SPP = {
    "evtx-application-spp-no-crc32.evtx": {900: 1, 902: 1, 1003: 1, 1066: 1, 16388: 1, 16394: 1},
    "evtx-application-many-events-spp.evtx": {
        900: 49,
        902: 49,
        903: 16,
        1003: 60,
        1004: 123,
        1007: 1,
        1009: 1,
        1011: 1,
        1013: 1,
        1016: 1,
        1025: 3,
        1033: 25,
        1034: 2,
        1036: 1,
        1037: 17,
        1066: 49,
        12304: 1,
        12305: 1,
        12306: 1,
        16384: 16,
    },
    "evtx-application-msi-spp1040.evtx": {1040: 3},
}
UNKNOWN = {16388, 12304, 12305, 12306}

pytestmark = pytest.mark.skipif(
    not REAL.is_dir(), reason="../shared/evtx-real is not beside the checkout"
)


@pytest.mark.parametrize("name", sorted(SPP))
def test_spp_events_are_counted_by_id(name: str) -> None:
    stats = EvtxStats()
    counts: Counter[int] = Counter()
    try:
        for event in read_evtx_events(REAL / name, stats):
            assert event.spp and event.hresult is None, event
            counts[event.event_id] += 1
    except DamagedRecordsError as exc:  # pragma: no cover - none of these is damaged
        pytest.fail(str(exc))
    assert dict(counts) == SPP[name]
    assert (stats.spp_events, stats.kms_events) == (sum(SPP[name].values()), 0)


@pytest.mark.parametrize("name", sorted(SPP))
def test_nothing_informational_is_read_as_a_failure(name: str) -> None:
    findings = check_event_files([REAL / name])
    assert not [f for f in findings if f.severity is Severity.ERROR], findings
    assert {f.check for f in findings} == {"no-kms-events", "events-read"}
    (summary,) = [f for f in findings if f.check == "events-read"]
    total = sum(SPP[name].values())
    assert summary.evidence.startswith(f"{total} Security-SPP event(s) read: ")
    assert "(failure)" not in summary.evidence
    for event_id, count in SPP[name].items():
        tail = " (unknown)" if event_id in UNKNOWN else ""
        assert f"{event_id} x{count}{tail}" in summary.evidence


def test_other_real_logs_hold_no_spp_event() -> None:
    """The System, Security and DNS Server logs: no SPP event, no KMS event."""
    for name in ("evtx-system-python-evtx.evtx", "evtx-dns-log-malformed.evtx"):
        stats = EvtxStats()
        try:
            events = list(read_evtx_events(REAL / name, stats))
        except DamagedRecordsError:
            events = []
        assert events == [] and stats.spp_events == 0, name
