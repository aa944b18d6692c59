"""``doctor events`` reads Windows' own licensing events (provider Security-SPP).

8198 ("License Activation (slui.exe) failed with the following error code: hr=0x...") carries
the result code of a failed online activation in its first ``<Data>``; the doctor explains
it with the code table the rest of the doctor uses. Informational events (900, 902, 1003,
16384...) are counted by ID and never read as failures, even when their data holds codes
(1003 lists 0xC004F014 per license); events whose meaning is not documented are only counted.
The XML is as ``wevtutil qe Application /f:xml`` writes it (``spp_8198_mak.xml``).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from doctor.sitetools import doctor, doctor_json, one, top_of
from openkms.doctor import Severity, check_event_files, read_events
from openkms.doctor.events._spp import SPP_FAILURES, is_spp_provider, spp_code
from openkms.doctor.events._xml import event_from_element

FIXTURES = Path(__file__).parent / "fixtures"
MAK_LOG = FIXTURES / "spp_8198_mak.xml"
_NS = "http://schemas.microsoft.com/win/2004/08/events/event"


def _event_xml(event_id: int, *data: str, provider: str = "Microsoft-Windows-Security-SPP") -> str:
    values = "".join(f"<Data>{d}</Data>" for d in data)
    return (
        f"<Event xmlns='{_NS}'><System><Provider Name='{provider}'/>"
        f"<EventID Qualifiers='49152'>{event_id}</EventID><Level>2</Level>"
        "<TimeCreated SystemTime='2026-11-20T09:00:04.1166916Z'/>"
        "<EventRecordID>405</EventRecordID><Channel>Application</Channel>"
        f"<Computer>WKS-07.contoso.com</Computer></System><EventData>{values}</EventData></Event>"
    )


def _write(tmp_path: Path, *events: str, name: str = "app.xml") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(events) + "\n", encoding="utf-8")
    return path


def _rule(trigger: str = "TimerEvent") -> str:
    return (
        "RuleId=eeba1977-569e-4571-b639-7623d8bfecc0;Action=AutoActivate;"
        "AppId=55c92734-d682-4d71-983e-d6ec3f16059f;"
        f"SkuId=2de67392-b7a7-462a-b1ca-108dd189f588;NotificationInterval=1440;Trigger={trigger}"
    )


# -- parsing one event


def test_8198_takes_its_code_from_the_first_data() -> None:
    element = ET.fromstring(_event_xml(8198, "hr=0xC004C008", _rule()))
    event = event_from_element(element, "app.xml")
    assert event is not None and event.spp
    assert (event.event_id, event.hresult, event.record) == (8198, 0xC004C008, 405)
    assert event.machine == "WKS-07.contoso.com"


def test_8198_code_from_the_rendered_message_when_data_lacks_it() -> None:
    xml = _event_xml(8198).replace(
        "</Event>",
        "<RenderingInfo Culture='de-DE'><Message>Fehler bei der Lizenzaktivierung (slui.exe) "
        "mit folgendem Fehlercode:&#13;&#10;hr=0x8007232B&#13;&#10;Befehlszeilenargumente:"
        "</Message></RenderingInfo></Event>",
    )
    event = event_from_element(ET.fromstring(xml), "app.xml")
    assert event is not None and event.hresult == 0x8007232B


def test_informational_events_carry_no_code() -> None:
    status = "1: 0567073a-7d74-403b-b2d5-6b35da372d8d, 1, 0 [(0 [0xC004F014, 0, 0])]"
    for event_id, data in [(1003, status), (16384, "hr=0xC004F074"), (902, "10.0.19041.1")]:
        event = event_from_element(ET.fromstring(_event_xml(event_id, data)), "a")
        assert event is not None and event.spp and event.hresult is None, event_id


def test_an_8198_of_another_provider_is_not_read() -> None:
    xml = _event_xml(8198, "hr=0xC004C008", provider="Microsoft-Windows-Other")
    assert event_from_element(ET.fromstring(xml), "a") is None


def test_kms_events_of_the_provider_stay_kms_events() -> None:
    xml = _event_xml(12289, "0x0,0x0,1,0,25,120,10080,2026/11/20 9:00")
    event = event_from_element(ET.fromstring(xml), "a")
    assert event is not None and not event.spp
    assert event.info_fields["current_count"] == "25"


def test_provider_names() -> None:
    assert is_spp_provider("Microsoft-Windows-Security-SPP")
    assert is_spp_provider("Security-SPP ")
    assert not is_spp_provider("Microsoft-Windows-Security-SPP-UX-Monitor")
    assert not is_spp_provider(None) and not is_spp_provider("")


# -- the code extraction, hostile text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=3000), max_size=12))
def test_extraction_never_fails_and_only_returns_failures(texts: list[str]) -> None:
    code = spp_code(texts)
    assert code is None or (0x80000000 <= code <= 0xFFFFFFFF)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=0x80000000, max_value=0xFFFFFFFF),
    st.text(alphabet=st.characters(exclude_characters="hH"), max_size=500),
    st.text(max_size=500),
    st.sampled_from(["hr={code}", "hr = {code}", "(hr={code}) for template", "HR={code}"]),
)
def test_a_code_written_as_windows_does_is_found(
    code: int, before: str, after: str, form: str
) -> None:
    text = before + " " + form.format(code=f"0x{code:08X}") + "\n" + after
    assert spp_code([text]) == code


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=0x7FFFFFFF))
def test_a_success_code_is_no_failure(code: int) -> None:
    assert spp_code([f"hr=0x{code:08X}"]) is None


def test_extraction_is_bounded() -> None:
    """Far data is not searched: only the first values, and the first characters of each."""
    assert spp_code(["x" * 10_000 + "hr=0xC004C008"]) is None
    assert spp_code(["-"] * 50 + ["hr=0xC004C008"]) is None
    assert spp_code(["hr=0xC004C0081"]) is None  # nine hex digits is no 32-bit code


# -- findings


def test_a_mak_log_names_the_used_up_key_with_the_mak_fix() -> None:
    findings = check_event_files([MAK_LOG])
    (failed,) = [f for f in findings if f.check == "event-8198-failed"]
    assert (failed.code, failed.procedure, failed.severity) == (
        "0xC004C008",
        "mak-client",
        Severity.ERROR,
    )
    assert failed.meaning.startswith("License Activation (slui.exe) failed")
    assert "exceeded its unlock limit" in failed.meaning
    assert "MAK's activations are used up" in failed.fix and "'slui 4'" in failed.fix
    assert "2 event(s)" in failed.evidence and "record 405" in failed.evidence
    checks = {f.check for f in findings}
    assert checks == {"event-8198-failed", "events-read"}  # not "no KMS events": 8198 says why


def test_1003_and_unknown_events_are_only_counted() -> None:
    findings = check_event_files([MAK_LOG])
    assert [f.check for f in findings if f.severity is not Severity.OK] == ["event-8198-failed"]
    (summary,) = [f for f in findings if f.check == "events-read"]
    assert "6 Security-SPP event(s) read" in summary.evidence
    assert "1003 x1," in summary.evidence and "8196 x1 (unknown)" in summary.evidence
    assert "8198 x2 (failure)" in summary.evidence
    assert "KMS event(s)" not in summary.evidence


def test_8198_dns_code_names_the_kms_dns_cause(tmp_path: Path) -> None:
    path = _write(tmp_path, _event_xml(8198, "hr=0x8007232B", _rule()))
    (failed,) = [f for f in check_event_files([path]) if f.check == "event-8198-failed"]
    assert (failed.code, failed.procedure) == ("0x8007232B", "dns")
    assert "DNS name does not exist" in failed.meaning
    assert "SRV" in failed.meaning and "SRV" in failed.fix


def test_genuine_ticket_failures_are_warnings(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        _event_xml(8200, "hr=0x80072EE7"),
        _event_xml(8208, "0x80072EE7", "{99d92734-d682-4d71-983e-d6ec3f16059f}"),
    )
    found = {f.check: f for f in check_event_files([path])}
    for event_id in (8200, 8208):
        finding = found[f"event-{event_id}-failed"]
        assert finding.severity is Severity.WARNING and finding.code == "0x80072EE7"
        assert finding.procedure != "mak-client"  # a genuine ticket, not the MAK
        assert finding.meaning.startswith(SPP_FAILURES[event_id])


def test_a_log_of_informational_spp_events_is_still_without_kms_events(tmp_path: Path) -> None:
    path = _write(tmp_path, _event_xml(902, "10.0.19041.1"), _event_xml(1003, "x"))
    found = {f.check: f for f in check_event_files([path])}
    assert set(found) == {"no-kms-events", "events-read"}
    assert found["events-read"].evidence == "2 Security-SPP event(s) read: 902 x1, 1003 x1"


def test_kms_and_spp_events_in_one_summary(tmp_path: Path) -> None:
    kms = _event_xml(12288, "0x0,0x0,kms01:1688,cmid,2026/11/20 9:00,0,2,40123,act,25")
    path = _write(tmp_path, kms, _event_xml(8198, "hr=0xC004F074", _rule()))
    findings = check_event_files([path])
    (summary,) = [f for f in findings if f.check == "events-read"]
    assert summary.evidence.startswith("1 KMS event(s) read;")
    assert summary.evidence.endswith("; 1 Security-SPP event(s) read: 8198 x1 (failure)")
    assert one([{"check": f.check} for f in findings], "event-8198-failed")


def test_copied_text_and_event_viewer_csv(tmp_path: Path) -> None:
    copied = tmp_path / "copied.txt"
    copied.write_text(
        "Log Name:      Application\nSource:        Microsoft-Windows-Security-SPP\n"
        "Date:          10/10/2026 6:02:46 PM\nEvent ID:      8198\nTask Category: None\n"
        "Level:         Error\nKeywords:      Classic\nUser:          N/A\n"
        "Computer:      WKS-07.contoso.com\nDescription:\n"
        "License Activation (slui.exe) failed with the following error code:\n"
        "hr=0xC004C008\nCommand-line arguments:\n" + _rule() + "\n",
        encoding="utf-8",
    )
    listed = tmp_path / "winevent.txt"
    listed.write_text(
        "LogName      : Application\nProviderName : Microsoft-Windows-Security-SPP\n"
        "Id           : 8198\nTimeCreated  : 11/18/2026 4:19:19 PM\n"
        "Message      : License Activation (slui.exe) failed with the following error code:\n"
        "               hr=0xC004C003\n               Command-line arguments:\n"
        "               " + _rule() + "\n",
        encoding="utf-8",
    )
    saved = tmp_path / "app.csv"
    saved.write_text(
        "Level,Date and Time,Source,Event ID,Task Category\n"
        'Error,11/20/2026 9:00:04 AM,Security-SPP,8198,None,"License Activation (slui.exe) '
        "failed with the following error code:\nhr=0xC004C020\nCommand-line arguments:\n"
        + _rule()
        + '"\n'
        'Information,11/20/2026 9:00:01 AM,Security-SPP,1003,None,"The Software Protection '
        'service has completed licensing status check."\n',
        encoding="utf-8",
    )
    codes = {
        path.name: [e.hresult for e in read_events(path, spp=True)]
        for path in (copied, listed, saved)
    }
    assert [list(read_events(path)) for path in (copied, listed, saved)] == [[], [], []]
    assert codes == {
        "copied.txt": [0xC004C008],
        "winevent.txt": [0xC004C003],
        "app.csv": [0xC004C020, None],
    }


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=200), max_size=4), st.integers(0, 0xFFFFFFFF))
def test_any_data_in_an_spp_event_is_read_without_a_traceback(
    data: list[str], event_id: int
) -> None:
    element = ET.Element(f"{{{_NS}}}Event")
    system = ET.SubElement(element, f"{{{_NS}}}System")
    ET.SubElement(system, f"{{{_NS}}}Provider", Name="Microsoft-Windows-Security-SPP")
    ET.SubElement(system, f"{{{_NS}}}EventID").text = str(event_id)
    values = ET.SubElement(element, f"{{{_NS}}}EventData")
    for text in data:
        ET.SubElement(values, f"{{{_NS}}}Data").text = text
    event = event_from_element(element, "a")
    assert event is not None
    assert event.hresult is None or event.event_id in SPP_FAILURES or not event.spp


# -- the command line


def test_cli_text_names_the_mak_cause_first() -> None:
    code, out, err = doctor("events", str(MAK_LOG))
    assert code == 2 and "Traceback" not in out + err
    head = out.split("\n\n")[0]
    assert "== Most likely cause ==" in head
    assert "[ERROR] event-8198-failed 0xC004C008" in head
    assert "MAK's activations are used up" in head
    assert "== MAK client ==" in out and "== KMS client ==" not in out


def test_cli_json() -> None:
    code, findings = doctor_json("events", str(MAK_LOG))
    assert code == 2
    failed = one(findings, "event-8198-failed")
    assert (failed["procedure"], failed["code"], failed["severity"]) == (
        "mak-client",
        "0xC004C008",
        "error",
    )
    assert top_of("events", str(MAK_LOG))["check"] == "event-8198-failed"
    assert json.dumps(findings)  # plain data


def test_cli_in_french_translates_the_new_words() -> None:
    code, out, _err = doctor("events", str(MAK_LOG), "--lang", "fr")
    assert code == 2
    assert "(échec)" in out and "(inconnu)" in out
    assert "Échec de l\u2019activation de licence (slui.exe) : " in out
