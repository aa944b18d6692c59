"""The doctor reads event text in English, French and German: Windows' Event Viewer copies and
wevtutil text as a French or German Windows prints them, and OpenKMS's own text exports in
every language it writes them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openkms.core.codes import ResultCode
from openkms.core.events import (
    EVENT_FIELDS,
    EventRecord,
    activation_request_event,
    client_request_event,
    client_response_event,
    publish_failed_event,
    publish_succeeded_event,
)
from openkms.doctor import EventFormat, check_event_files, detect_format, read_events
from openkms.doctor.events._blocks import read_text_events
from openkms.event_export import export_events
from openkms.i18n import language_scope

FIXTURES = Path(__file__).parent / "fixtures"
T0 = 1_795_000_000
CMID = "aabbccdd-0000-4111-8222-333344445555"
SKU = "73111121-5638-40f6-bc11-f1d7b0d64300"


def _host_records() -> list[EventRecord]:
    request = activation_request_event(
        T0,
        result=ResultCode.COUNT_TOO_LOW,
        n_policy=25,
        machine_name="PC0200.contoso.com",
        cmid=CMID,
        client_time=T0,
        vm=False,
        license_status=2,
        minutes_to_expiration=40000,
        activation_id=SKU,
    )
    records = [
        request,
        publish_failed_event(T0 + 60, ResultCode.DNS_UPDATE_REFUSED, "contoso.com"),
        publish_succeeded_event(T0 + 120, "contoso.com"),
    ]
    return [msgspec.structs.replace(r, seq=i) for i, r in enumerate(records, start=1)]


def _client_records() -> list[EventRecord]:
    request = client_request_event(
        time=T0,
        result=ResultCode.OK,
        server="kms01.contoso.com:1688",
        cmid=CMID,
        license_status=5,
        minutes_to_expiration=0,
        activation_id=SKU,
        n_policy=25,
    )
    response = client_response_event(
        time=T0, result=ResultCode.OK, activated=True, current_count=30
    )
    return [msgspec.structs.replace(r, seq=i) for i, r in enumerate([request, response], 1)]


def _write(path: Path, records: list[EventRecord], fmt: str, language: str, log: str) -> Path:
    with language_scope(language):
        path.write_text("".join(export_events(records, fmt, log)), encoding="utf-8")
    return path


@pytest.mark.parametrize("language", ["en", "fr", "de"])
@pytest.mark.parametrize(
    ("records", "log"),
    [(_host_records, "Key Management Service"), (_client_records, "Application")],
)
def test_openkms_text_export_reads_back_like_its_json_in_every_language(
    language: str, records: object, log: str, tmp_path: Path
) -> None:
    made = records()  # type: ignore[operator]
    text = _write(tmp_path / "events.txt", made, "text", language, log)
    as_json = _write(tmp_path / "events.json", made, "json", "en", log)
    assert detect_format(text) is EventFormat.CLIPBOARD
    from_text, from_json = list(read_events(text)), list(read_events(as_json))
    assert [e.event_id for e in from_text] == [r.event_id for r in made]
    assert [e.info_fields for e in from_text] == [e.info_fields for e in from_json]
    assert [e.time for e in from_text] == [e.time for e in from_json]


@pytest.mark.parametrize("language", ["fr", "de"])
def test_openkms_text_export_gives_the_same_findings_in_every_language(
    language: str, tmp_path: Path
) -> None:
    english = _write(tmp_path / "en.txt", _host_records(), "text", "en", "Key Management Service")
    other = _write(
        tmp_path / f"{language}.txt", _host_records(), "text", language, "Key Management Service"
    )
    found_en = [(f.check, f.severity) for f in check_event_files([english])]
    found = [(f.check, f.severity) for f in check_event_files([other])]
    assert found == found_en and found_en


@pytest.mark.parametrize(
    "name", ["host_clipboard_fr.txt", "host_clipboard_de.txt", "wevtutil_fr.txt", "wevtutil_de.txt"]
)
def test_windows_french_and_german_event_text(name: str) -> None:
    path = FIXTURES / name
    assert detect_format(path) is EventFormat.CLIPBOARD
    events = list(read_events(path))
    assert [e.event_id for e in events] == [12293, 12290]
    failed, request = events
    assert failed.info_fields == {"hresult": "0x8007232D", "domain": "contoso.com"}
    assert failed.machine == "kms01.contoso.com"
    assert request.info_fields["hresult"] == "0xC004F06C"
    assert request.info_fields["machine_name"] == "PC0200.contoso.com"
    assert request.time is not None
    assert (request.time.hour, request.time.minute) == (8, 2)
    assert request.time.date() == dt.date(2026, 11, 21)


def test_windows_french_and_german_findings_match_the_english_copy() -> None:
    english = {f.check for f in check_event_files([FIXTURES / "host_clipboard.txt"])}
    for name in ("host_clipboard_fr.txt", "host_clipboard_de.txt"):
        assert {f.check for f in check_event_files([FIXTURES / name])} == english, name


def test_the_general_tab_alone_in_french_and_german_tells_the_event_from_its_message() -> None:
    events = list(read_events(FIXTURES / "general_tab_fr_de.txt"))
    assert [e.event_id for e in events] == [12288, 12289]
    assert events[0].info_fields["server"] == "kms01.contoso.com:1688"
    assert events[1].info_fields["current_count"] == "30"


def test_a_run_on_label_is_read_only_when_it_is_a_known_one(tmp_path: Path) -> None:
    path = tmp_path / "copy.txt"
    path.write_text(
        "Nom du journal :Key Management Service\n"
        "ID de l'événement :12290\n"
        "Description :\n"
        "Une demande d'activation a été traitée.\n"
        "Remarque:ceci n'est pas un champ\n"
        "Informations :\n"
        f"0x0, 25, PC1, {CMID}, 2026/11/21 14:02, 0, 2, 40000, {SKU}\n",
        encoding="utf-8",
    )
    (event,) = read_events(path)
    assert event.event_id == 12290 and event.info_fields["machine_name"] == "PC1"


_PIECES = st.sampled_from(
    [
        "Nom du journal :",
        "ID de l\u2019événement :",
        "Ereignis-ID:",
        "Événement[0] :",
        "Ereignis[3]:",
        "Beschreibung:",
        "Description :",
        "Informations :",
        "Info:",
        "Une demande d'activation a été traitée.",
        "Eine Aktivierungsanforderung wurde verarbeitet.",
        "12290",
        "0x0, 25, PC1",
        " ",
        ":",
        "\n",
    ]
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pieces=st.lists(st.one_of(_PIECES, st.text(max_size=12)), max_size=40))
def test_any_mix_of_localised_labels_reads_without_an_error(
    pieces: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "copy.txt"
    path.write_text("".join(pieces), encoding="utf-8", errors="replace")
    for event in read_text_events(path):
        assert event.event_id in EVENT_FIELDS
