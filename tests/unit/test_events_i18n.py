"""Events in French and German: descriptions and the text export for people, JSON and CSV the
same bytes in every language (the doctor reading them back: tests/doctor)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from openkms.cli.main import cli
from openkms.client.events import ClientEventLog
from openkms.core.codes import ResultCode
from openkms.core.events import (
    EVENT_MESSAGES,
    EventRecord,
    activation_request_event,
    client_request_event,
    client_response_event,
    event_description,
    level_label,
    publish_failed_event,
)
from openkms.event_export import export_events
from openkms.i18n import language_scope

T0 = 1_795_000_000  # 2026-11-18T11:06:40Z


def _records() -> list[EventRecord]:
    request = activation_request_event(
        T0,
        result=ResultCode.COUNT_TOO_LOW,
        n_policy=25,
        machine_name="PC0200.contoso.com",
        cmid="aabbccdd-0000-4111-8222-333344445555",
        client_time=T0,
        vm=False,
        license_status=2,
        minutes_to_expiration=40000,
        activation_id="73111121-5638-40f6-bc11-f1d7b0d64300",
    )
    failed = publish_failed_event(T0 + 60, ResultCode.DNS_UPDATE_REFUSED, "contoso.com")
    return [msgspec.structs.replace(r, seq=i) for i, r in enumerate([request, failed], start=1)]


def _export(fmt: str, language: str) -> str:
    with language_scope(language):
        return "".join(export_events(_records(), fmt, "Key Management Service"))


def test_event_descriptions_word_for_word() -> None:
    with language_scope("fr"):
        assert event_description(12290) == "Une demande d'activation a été traitée."
        assert level_label("Warning") == "Avertissement"
    with language_scope("de"):
        assert event_description(12290) == "Eine Aktivierungsanforderung wurde verarbeitet."
        assert event_description(12288) == (
            "Der Client hat eine Aktivierungsanforderung an den Computer mit dem "
            "Schlüsselverwaltungsdienst gesendet."
        )
        assert level_label("Error") == "Fehler"
    assert event_description(12290) == "An activation request has been processed."
    assert event_description(4242) == "" and level_label("Verbose") == "Verbose"


@pytest.mark.parametrize("language", ["fr", "de"])
def test_every_event_message_is_translated_and_the_machine_fields_are_not(language: str) -> None:
    record = _records()[0]
    with language_scope(language):
        for event_id, english in EVENT_MESSAGES.items():
            assert event_description(event_id) not in ("", english)
        assert record.message == EVENT_MESSAGES[12290]  # English: the JSON export's field
        assert record.level == "Warning"
        assert record.fields()["hresult"] == "0xC004F038"


def test_the_english_text_export_is_unchanged() -> None:
    first = _export("text", "en").split("\n\n")[0]
    assert first.splitlines() == [
        "Log Name:      Key Management Service",
        "Source:        OpenKMS",
        "Date:          2026-11-18T11:06:40Z",
        "Event ID:      12290",
        "Level:         Warning",
        "Record:        1",
        "Description:",
        "An activation request has been processed.",
        "Info:",
        _records()[0].info,
    ]


def test_the_french_text_export_speaks_french() -> None:
    first = _export("text", "fr").split("\n\n")[0]
    assert first.splitlines() == [
        "Nom du journal :    Key Management Service",
        "Source :            OpenKMS",
        "Date :              2026-11-18T11:06:40Z",
        "ID de l'événement : 12290",
        "Niveau :            Avertissement",
        "Enregistrement :    1",
        "Description :",
        "Une demande d'activation a été traitée.",
        "Informations :",
        _records()[0].info,
    ]


def test_the_german_text_export_speaks_german() -> None:
    second = _export("text", "de").split("\n\n")[1]
    assert second.splitlines() == [
        "Protokollname: Key Management Service",
        "Quelle:        OpenKMS",
        "Datum:         2026-11-18T11:07:40Z",
        "Ereignis-ID:   12293",
        "Ebene:         Fehler",
        "Datensatz:     2",
        "Beschreibung:",
        "Fehler beim Veröffentlichen des Schlüsselverwaltungsdienstes (KMS) im DNS der "
        "folgenden Domäne.",
        "Info:",
        "0x8007232D,contoso.com",
    ]


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_json_and_csv_exports_are_the_same_bytes_in_every_language(fmt: str) -> None:
    english = _export(fmt, "en")
    assert english == _export(fmt, "fr") == _export(fmt, "de")
    assert "An activation request has been processed." in english or fmt == "csv"
    assert "Warning" in english and "Avertissement" not in english


def test_client_events_command_in_french_keeps_json_identical(tmp_path: Path) -> None:
    store = tmp_path / "pc"
    runner = CliRunner()
    assert runner.invoke(cli, ["client", "--store", str(store), "dli"]).exit_code == 0
    request = client_request_event(
        time=T0,
        result=ResultCode.NO_KMS_HOST_CONTACTED,
        server="kms01.contoso.com:1688",
        cmid="aabbccdd-0000-4111-8222-333344445555",
        license_status=5,
        minutes_to_expiration=0,
        activation_id="73111121-5638-40f6-bc11-f1d7b0d64300",
        n_policy=25,
    )
    response = client_response_event(time=T0, result=ResultCode.OK, activated=True)
    ClientEventLog(store / "events.jsonl").append(request, response)

    french = runner.invoke(cli, ["--lang", "fr", "client", "--store", str(store), "events"])
    assert french.exit_code == 0, french.output
    assert "Nom du journal :    Application" in french.stdout
    assert (
        "Le client a envoyé une demande d'activation à l'ordinateur du service de gestion de "
        "clés." in french.stdout
    )
    assert "Niveau :            Avertissement" in french.stdout
    as_json = [
        runner.invoke(cli, [*lang, "client", "--store", str(store), "events", "--format", "json"])
        for lang in ([], ["--lang", "fr"], ["--lang", "de"])
    ]
    assert all(r.exit_code == 0 for r in as_json)
    assert as_json[0].stdout == as_json[1].stdout == as_json[2].stdout
    assert '"message": "The client has sent an activation request' in as_json[0].stdout
