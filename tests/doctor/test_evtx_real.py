"""Rule: real EVTX logs are read without a crash, every record counted; a record or chunk
the parser cannot read is reported as skipped, and the file is not called unreadable."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from openkms.doctor import Severity, check_event_files
from openkms.doctor.events._evtx import DamagedRecordsError, EvtxStats, read_evtx_events

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "evtx-real"
FILES = sorted(REAL.glob("*.evtx")) if REAL.is_dir() else []
DAMAGED = {"evtx-bad-chunk-magic.evtx", "evtx-zero-data-size-event.evtx"}
# Records each file holds (the Rust parser's count; the README's where it gives one).
RECORDS = {
    "evtx-application-spp-no-crc32.evtx": 17,
    "evtx-application-many-events-spp.evtx": 2216,
    "evtx-application-msi-spp1040.evtx": 351,
}

pytestmark = pytest.mark.skipif(not FILES, reason="../shared/evtx-real is not beside the checkout")


def _read(path: Path) -> tuple[EvtxStats, DamagedRecordsError | None]:
    stats = EvtxStats()
    try:
        for _ in read_evtx_events(path, stats):
            pass
    except DamagedRecordsError as exc:
        return stats, exc
    return stats, None


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_real_file_is_read_and_counted(path: Path) -> None:
    stats, damage = _read(path)
    assert stats.records > 0
    assert stats.kms_events == 0  # none of these logs holds a KMS event (see README)
    if path.name in RECORDS:
        assert stats.records == RECORDS[path.name]
    assert (damage is not None) == (path.name in DAMAGED), damage


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_damaged_record_is_a_warning_not_an_unreadable_file(name: str) -> None:
    findings = check_event_files([REAL / name])
    checks = {f.check: f for f in findings}
    assert "events-unreadable" not in checks
    skipped = checks["evtx-records-skipped"]
    assert skipped.severity is Severity.WARNING
    assert "record(s) read" in skipped.evidence


def test_reading_is_thousands_of_records_per_second() -> None:
    """A floor far under the measured rate (docs/doctor.md) that python-evtx never reached."""
    path = REAL / "evtx-security-bad-string-cache.evtx"
    started = time.perf_counter()
    stats, _ = _read(path)
    rate = stats.records / (time.perf_counter() - started)
    assert rate > 1_000, rate
