"""Trusted times as English, French and German slmgr print them order a host's snapshots."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openkms.doctor.slmgr import check_slmgr_files
from openkms.doctor.slmgr._checks import parse_slmgr_time

FIXTURES = Path(__file__).parent / "fixtures"

LOCAL = dt.datetime(2026, 11, 29, 17, 12, 19).timestamp()


@pytest.mark.parametrize(
    "raw",
    [
        "11/29/2026 5:12:19 PM",  # en-US
        "29/11/2026 17:12:19",  # fr-FR, en-GB
        "29.11.2026 17:12:19",  # de-DE
        "29.11.2026  17:12:19",  # a doubled space, as copied from a console
        "2026-11-29 17:12:19",  # ISO
    ],
)
def test_each_language_s_form_is_read(raw: str) -> None:
    assert parse_slmgr_time(raw) == LOCAL


def test_without_seconds_and_openkms_utc_form() -> None:
    assert parse_slmgr_time("29.11.2026 17:12") == LOCAL - 19
    utc = dt.datetime(2026, 11, 29, 17, 12, 19, tzinfo=dt.UTC).timestamp()
    assert parse_slmgr_time("29/11/2026 17:12:19 UTC") == utc
    assert parse_slmgr_time("2026-11-29 17:12:19 UTC") == utc


@given(st.text(max_size=60))
def test_anything_else_is_none_never_an_error(raw: str) -> None:
    result = parse_slmgr_time(raw)
    assert result is None or isinstance(result, float)


def test_german_snapshots_are_ordered_by_their_trusted_time(tmp_path: Path) -> None:
    """Two German /dlv of one host whose file times say the opposite of their trusted times:
    failures rising from 40 to 95 are seen, as for the English pair."""
    earlier = (FIXTURES / "host_dlv_de.txt").read_text(encoding="utf-8")
    later = (
        earlier.replace("02.11.2026 09:15:00", "21.11.2026 19:30:00")
        .replace("Anforderungen: 312", "Anforderungen: 401")
        .replace("fehlgeschlagene Anforderungen: 40", "fehlgeschlagene Anforderungen: 95")
    )
    assert later != earlier
    (tmp_path / "b.txt").write_text(earlier, encoding="utf-8")
    (tmp_path / "a.txt").write_text(later, encoding="utf-8")
    # File times in the wrong order: only the trusted time read in German orders them right.
    os.utime(tmp_path / "b.txt", (2_000_000_000, 2_000_000_000))
    os.utime(tmp_path / "a.txt", (1, 1))
    findings = check_slmgr_files([tmp_path / "a.txt", tmp_path / "b.txt"])
    rising = [f for f in findings if f.check == "failed-requests-rising"]
    assert len(rising) == 1
    assert "40" in rising[0].evidence and "95" in rising[0].evidence
