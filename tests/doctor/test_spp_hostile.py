"""Hostile event exports against the Security-SPP reading: a clear finding, bounded work.

A wevtutil XML export is read incrementally; these files try to make the reader hold the whole
file (elements outside any event, elements nested without end, one endless value), to pass
another program's events off as Windows' licensing service, or to break the code reading.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkms.doctor import check_event_files
from openkms.doctor._finding import Finding
from openkms.doctor.events._spp import is_spp_provider, spp_code

_NS = "http://schemas.microsoft.com/win/2004/08/events/event"


def _event(data: str, provider: str = "Microsoft-Windows-Security-SPP", record: int = 1) -> str:
    return (
        f"<Event xmlns='{_NS}'><System><Provider Name='{provider}'/>"
        "<EventID Qualifiers='49152'>8198</EventID>"
        "<TimeCreated SystemTime='2026-11-20T09:00:04.1166916Z'/>"
        f"<EventRecordID>{record}</EventRecordID><Computer>WKS-07</Computer></System>"
        f"<EventData><Data>{data}</Data></EventData></Event>\n"
    )


def _check(tmp_path: Path, text: str) -> dict[str, Finding]:
    path = tmp_path / "app.xml"
    path.write_text(text, encoding="utf-8")
    return {finding.check: finding for finding in check_event_files([path])}


@pytest.mark.parametrize(
    "provider",
    [
        "Evil-Security-SPP",
        "Contoso-Microsoft-Windows-Security-SPP",
        "Microsoft-Windows-Security-SP\u0420",  # Cyrillic Er for the last P
        "Microsoft-Windows-Security-SPP\u200b",
        "\uff33ecurity-SPP",  # fullwidth S
    ],
)
def test_a_look_alike_provider_is_not_windows(tmp_path: Path, provider: str) -> None:
    found = _check(tmp_path, _event("hr=0xC004F074", provider))
    assert not is_spp_provider(provider)
    assert "event-8198-failed" not in found
    assert "no-kms-events" in found


@pytest.mark.parametrize(
    "data",
    [
        "hr=0x1C004F074",  # 33 bits
        "hr=0xFFFFFFFFC004F074",  # 64 bits
        "hr=-0x3FFB0F8C",
        "hr=0xZZZZ",
        "hr=0x\uff23004F074",  # fullwidth C
        "hr=0x\u0663\u0663\u0663\u0663\u0663\u0663\u0663\u0663",  # Arabic-Indic digits
        "hr=0x00000001",  # no failure bit
    ],
)
def test_a_code_out_of_range_is_no_code(tmp_path: Path, data: str) -> None:
    found = _check(tmp_path, _event(data))
    assert "event-8198-failed" not in found
    assert "8198 x1 (failure)" in found["events-read"].evidence


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=300), max_size=12))
def test_spp_code_is_a_failure_code_or_none(texts: list[str]) -> None:
    code = spp_code(texts)
    assert code is None or 0x80000000 <= code <= 0xFFFFFFFF


def test_thousands_of_8198_are_one_finding(tmp_path: Path) -> None:
    text = "".join(_event("hr=0xC004F074", record=n) for n in range(3000))
    found = _check(tmp_path, text)
    assert found["event-8198-failed"].code == "0xC004F074"
    assert found["event-8198-failed"].evidence.startswith("3000 event(s)")


def test_elements_outside_events_are_not_kept(tmp_path: Path) -> None:
    # 200 000 finished elements outside any event: each used to stay attached to the root.
    text = "<x/>" * 200_000 + _event("hr=0xC004F074")
    tracemalloc.start()
    try:
        found = _check(tmp_path, text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert found["event-8198-failed"].code == "0xC004F074"
    assert peak < 8 << 20, f"{peak} bytes held for a file of {len(text)}"


def test_endless_nesting_is_refused(tmp_path: Path) -> None:
    found = _check(tmp_path, _event("hr=0xC004F074") + "<a>" * 100_000)
    assert "nested over 32 elements deep is refused" in found["events-unreadable"].evidence
    assert found["event-8198-failed"].code == "0xC004F074"  # read before the refusal


def test_an_endless_value_is_refused(tmp_path: Path) -> None:
    found = _check(tmp_path, _event("hr=0xC004F074" + "A" * (3 << 20)))
    assert "value over 1048576 characters is refused" in found["events-unreadable"].evidence


def test_entities_and_dtds_are_refused(tmp_path: Path) -> None:
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        "<Event>&lol2;</Event>"
    )
    assert "DTD is refused" in _check(tmp_path, laughs)["events-unreadable"].evidence
    undefined = _check(tmp_path, _event("&xxe;"))["events-unreadable"]
    assert "malformed near line 1" in undefined.evidence
