from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from openkms.doctor import EventFormat, check_event_files, detect_format, read_events
from openkms.doctor.findings import Severity

FIXTURES = Path(__file__).parent / "fixtures"


def _by_check(findings):
    out: dict[str, list] = {}
    for f in findings:
        out.setdefault(f.check, []).append(f)
    return out


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("client_events.xml", EventFormat.XML),
        ("host_events.csv", EventFormat.EVENTVIEWER_CSV),
        ("host_clipboard.txt", EventFormat.CLIPBOARD),
        ("openkms_events.jsonl", EventFormat.OPENKMS_JSON),
        ("openkms_events.csv", EventFormat.OPENKMS_CSV),
    ],
)
def test_detect_format(name, fmt):
    assert detect_format(FIXTURES / name) is fmt


def test_xml_events_fields():
    events = list(read_events(FIXTURES / "client_events.xml"))
    assert [e.event_id for e in events] == [12288, 12289, 12288, 12288, 12289]  # 1003 skipped
    first = events[0]
    assert first.record == 4101
    assert first.machine == "PC0142.contoso.com"
    assert first.time is not None and first.time.isoformat() == "2026-11-20T08:00:01.123456+00:00"
    assert first.info_fields["server"] == "kms01.contoso.com:1688"
    assert first.info_fields["n_policy"] == "25"
    assert events[1].info_fields["current_count"] == "12"
    assert events[2].info_fields["hresult"] == "0xC004F074"


def test_eventviewer_csv_fields():
    events = list(read_events(FIXTURES / "host_events.csv"))
    assert len(events) == 4
    assert events[0].info_fields["n_policy"] == "0x19"
    assert events[0].info_fields["machine_name"] == "PC0142.contoso.com"
    assert events[0].where().endswith("host_events.csv line 2")
    assert events[0].time is not None and events[0].time.hour == 19


def test_clipboard_fields():
    events = list(read_events(FIXTURES / "host_clipboard.txt"))
    assert [e.event_id for e in events] == [12293, 12290]
    assert events[0].info_fields == {"hresult": "0x8007232D", "domain": "contoso.com"}
    assert events[0].machine == "kms01.contoso.com"
    assert events[1].info_fields["hresult"] == "0xC004F06C"
    assert events[1].where().endswith("line 19")


def test_openkms_json_and_csv_agree(tmp_path: Path):
    jsonl = list(read_events(FIXTURES / "openkms_events.jsonl"))
    csv_events = list(read_events(FIXTURES / "openkms_events.csv"))
    assert [e.info_fields for e in jsonl] == [e.info_fields for e in csv_events]
    assert [e.record for e in jsonl] == [1, 2]
    array = tmp_path / "events.json"
    lines = (FIXTURES / "openkms_events.jsonl").read_text().splitlines()
    array.write_text("[\n" + ",\n".join(lines) + "\n]\n")
    assert [e.info_fields for e in read_events(array)] == [e.info_fields for e in jsonl]


def test_client_xml_findings():
    found = _by_check(check_event_files([FIXTURES / "client_events.xml"]))
    (unanswered,) = found["request-unanswered"]
    assert unanswered.severity is Severity.WARNING  # two other requests were answered
    assert "kms-old.contoso.com:1688" in unanswered.evidence
    assert "record 4110" in unanswered.evidence
    assert found["event-12288-failed"][0].code == "0xC004F074"
    assert found["event-12289-failed"][0].code == "0xC004F038"
    assert found["count-below-n-policy"][0].severity is Severity.ERROR
    assert found["several-kms-hosts"][0].severity is Severity.WARNING


def test_reverse_order_export_pairs_too(tmp_path: Path):
    # Event Viewer lists newest first: pairing must not depend on the order.
    lines = (FIXTURES / "client_events.xml").read_text().splitlines()
    path = tmp_path / "reversed.xml"
    path.write_text("\n".join(reversed(lines)))
    found = _by_check(check_event_files([path]))
    (unanswered,) = found["request-unanswered"]
    assert "1 12288" in unanswered.evidence and "2 answered" in unanswered.evidence


def test_host_csv_findings():
    found = _by_check(check_event_files([FIXTURES / "host_events.csv"]))
    (dup,) = found["duplicate-cmid"]
    assert dup.severity is Severity.ERROR and dup.procedure == "cmid"
    assert "pc0142.contoso.com" in dup.evidence and "pc0143.contoso.com" in dup.evidence
    assert found["event-12290-failed"][0].code == "0xC004F042"
    mix = found["n-policy-mix"][0]
    assert "25 (desktop) x2" in mix.evidence and "5 (server) x2" in mix.evidence


def test_host_clipboard_findings():
    found = _by_check(check_event_files([FIXTURES / "host_clipboard.txt"]))
    dns = found["dns-publishing-failed"][0]
    assert dns.severity is Severity.ERROR and dns.code == "0x8007232D"
    assert "contoso.com" in dns.evidence
    clock = found["event-12290-failed"][0]
    assert clock.procedure == "clock" and clock.code == "0xC004F06C"


def test_later_12294_downgrades_12293():
    files = [FIXTURES / "host_clipboard.txt", FIXTURES / "openkms_events.jsonl"]
    found = _by_check(check_event_files(files))
    assert found["dns-publishing-failed"][0].severity is Severity.WARNING


def test_unknown_n_policy_warns(tmp_path: Path):
    path = tmp_path / "odd.csv"
    path.write_text(
        "seq,time,event_id,level,info\n1,2026-11-21T19:00:00Z,12290,Information,"
        '"0x0,0x7,pc1,c1,2026/11/21 19:00,0,1,1,a"\n'
    )
    found = _by_check(check_event_files([path]))
    assert found["n-policy-unexpected"][0].severity is Severity.WARNING


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"\x00\x01\x02garbage\xff\xfe\x00" * 20, "binary"),
        (b"hello, this is just some text\n", "not a known event export"),
        (b"<Event><System><EventID>12290</EventID>", "breaks off"),
        (b'<!DOCTYPE x [<!ENTITY a "b">]><Event/>', "DTD"),
        (b'[{"seq": 1, "event_id": 12290, "info": "0x0"', "JSON"),
        (b"ElfFile\x00" + b"\x00" * 100, "truncated"),
        (b"ElfFile\x00" + b"\xa5" * 0x12000, "EVTX"),
    ],
)
def test_bad_exports_are_findings(tmp_path: Path, content, message):
    path = tmp_path / "bad"
    path.write_bytes(content)
    findings = check_event_files([path])
    assert findings[0].check == "events-unreadable"
    assert findings[0].severity is Severity.ERROR
    assert message in findings[0].evidence


def test_truncated_xml_keeps_events_before_the_break(tmp_path: Path):
    data = (FIXTURES / "client_events.xml").read_bytes()
    path = tmp_path / "cut.xml"
    path.write_bytes(data[: int(len(data) * 0.9)])
    found = _by_check(check_event_files([path]))
    assert "events-unreadable" in found
    assert "KMS event(s) before that were checked" in found["events-unreadable"][0].evidence
    assert found["events-read"][0].severity is Severity.OK


def test_export_without_kms_events(tmp_path: Path):
    path = tmp_path / "other.jsonl"
    path.write_text(json.dumps({"seq": 1, "time": 0, "event_id": 1003, "info": ""}) + "\n")
    (finding,) = check_event_files([path])
    assert finding.check == "no-kms-events" and finding.severity is Severity.WARNING


_EVENT = (
    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
    "<Provider Name='Microsoft-Windows-Security-SPP'/><EventID Qualifiers='16384'>12290"
    "</EventID><Level>4</Level><TimeCreated SystemTime='2026-11-21T10:{m:02d}:{s:02d}.0Z'/>"
    "<EventRecordID>{n}</EventRecordID><Channel>Key Management Service</Channel>"
    "<Computer>kms01.contoso.com</Computer></System><EventData><Data>0x0,0x19,"
    "pc{c}.contoso.com,{c:08d}-0000-4000-8000-000000000000,2026/11/21 10:00,0,1,259200,"
    "73111121-5638-40f6-bc11-f1d7b0d64300</Data></EventData></Event>\n"
)


@pytest.mark.slow
def test_streaming_200k_events_bounded_memory(tmp_path: Path):
    path = tmp_path / "big.xml"
    with path.open("w") as out:
        for n in range(200_000):
            out.write(_EVENT.format(m=(n // 60) % 60, s=n % 60, n=n, c=n % 500))
    assert path.stat().st_size > 100_000_000
    tracemalloc.start()
    try:
        findings = check_event_files([path])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 30 * 1024 * 1024, peak
    summary = next(f for f in findings if f.check == "events-read")
    assert "200000 KMS event(s)" in summary.evidence
