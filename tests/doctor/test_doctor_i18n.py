# ruff: noqa: RUF001 - French typography: the apostrophe of the French texts is U+2019
"""The doctor in French and German: findings in the administrator's language on screen, the
``--json`` report byte-identical in every language, English text unchanged.

The findings' machine fields (``check``, ``code``, ``procedure``, ``severity``) and the whole
JSON report never change with the language; quoted evidence (an slmgr line) stays as read.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from doctor.sitetools import activate_clients
from openkms.cli.main import cli
from openkms.doctor import Report, check_event_files, check_slmgr_files, explain
from openkms.doctor._i18n import Decimal, Stamp, Text, joined, shown
from openkms.doctor.stores.hostcheck import HostCheckOptions, check_host_store
from openkms.i18n import N_, language_scope

from helpers import host_process, make_site, openkms_cmd

FIXTURES = Path(__file__).parent / "fixtures"
SLMGR = [FIXTURES / "host_dlv_en.txt", FIXTURES / "client_dli_fr.txt"]
EVENTS = [FIXTURES / "client_events.xml", FIXTURES / "host_events.csv"]


def _run(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _german_shell(*args: str) -> str:
    """``openkms ARGS`` in a real process whose environment is a German administrator's shell
    (``LANG=de_DE.UTF-8``, ``LC_ALL`` and ``LC_MESSAGES`` unset): its standard output."""
    env = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LC_MESSAGES")}
    env |= {"LANG": "de_DE.UTF-8", "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run(openkms_cmd(*args), env=env, capture_output=True, timeout=60, check=False)
    assert b"Traceback" not in done.stderr, done.stderr
    return done.stdout.decode("utf-8")


def _block(text: str, heading: str) -> list[str]:
    """The lines of the section under ``== heading ==`` (up to the blank line)."""
    lines = text.splitlines()
    start = lines.index(f"== {heading} ==") + 1
    return lines[start : lines.index("", start)]


def test_slmgr_top_finding_in_french_word_for_word() -> None:
    text = _run("--lang", "fr", "doctor", "slmgr", *map(str, SLMGR)).stdout
    where = f"{SLMGR[0]}:17"
    assert _block(text, "Cause la plus probable") == [
        "[ERREUR] count-stuck-at-1",
        f"  constaté :      {where}: Décompte actuel : 1 après 312 demandes",
        "  signification : Beaucoup de demandes mais un seul CMID distinct : les clients ont "
        "été clonés à partir d’une image non généralisée et partagent un CMID.",
        "  solution :      Exécutez « sysprep /generalize » sur l’image, ou « slmgr /rearm » sur "
        "chaque client cloné, pour donner à chaque ordinateur son propre CMID.",
    ]
    assert "== Hôte KMS ==" in text
    assert text.rstrip().endswith("OK")


def test_slmgr_top_finding_in_german_from_lang() -> None:
    text = _german_shell("doctor", "slmgr", *map(str, SLMGR))
    assert _block(text, "Wahrscheinlichste Ursache") == [
        "[FEHLER] count-stuck-at-1",
        f"  Gesehen:   {SLMGR[0]}:17: Aktuelle Anzahl: 1 nach 312 Anforderungen",
        "  Bedeutung: Viele Anforderungen, aber nur eine eindeutige CMID: Die Clients wurden aus "
        "einem nicht generalisierten Image geklont und teilen sich eine CMID.",
        "  Lösung:    Führen Sie „sysprep /generalize“ auf dem Image oder „slmgr /rearm“ auf "
        "jedem geklonten Client aus, damit jeder Computer eine eigene CMID erhält.",
    ]
    assert "[WARNUNG] failed-requests-high 0xC004F042" in text
    assert f"  Gesehen:   {SLMGR[0]}:24: Empfangene fehlgeschlagene Anforderungen: 40 von 312" in (
        text
    )


def test_slmgr_english_text_unchanged() -> None:
    text = _run("--lang", "en", "doctor", "slmgr", *map(str, SLMGR)).stdout
    assert _block(text, "Most likely cause") == [
        "[ERROR] count-stuck-at-1",
        f"  seen:    {SLMGR[0]}:17: Current count: 1 after 312 requests",
        "  meaning: Many requests but one distinct CMID: the clients were cloned from an image "
        "that was not generalized and share a CMID.",
        "  fix:     Run 'sysprep /generalize' on the image, or 'slmgr /rearm' on each cloned "
        "client, to give every machine its own CMID.",
    ]
    assert "== KMS host ==" in text
    assert text.rstrip().splitlines()[-1].endswith(" ok")


def test_slmgr_quoted_evidence_stays_as_read() -> None:
    """The French slmgr line is quoted as it was read, in a German and an English report."""
    with language_scope("de"):
        report = Report(check_slmgr_files([SLMGR[1]]))
        german = report.render_text()
    assert f"  Gesehen:   {SLMGR[1]}:4: Période de grâce initiale" in german.splitlines()
    assert f"  seen:    {SLMGR[1]}:4: Période de grâce initiale" in report.render_text()


def test_slmgr_json_identical_in_every_language() -> None:
    outputs = {
        "en": _run("--lang", "en", "doctor", "slmgr", "--json", *map(str, SLMGR)).stdout,
        "fr": _run("--lang", "fr", "doctor", "slmgr", "--json", *map(str, SLMGR)).stdout,
        "de": _german_shell("doctor", "slmgr", "--json", *map(str, SLMGR)),
    }
    assert outputs["fr"] == outputs["en"] == outputs["de"]
    top = json.loads(outputs["en"])["top"]
    assert top["meaning"].startswith("Many requests but one distinct CMID")
    assert top["evidence"].endswith("Current count: 1 after 312 requests")


def _events(language: str) -> Report:
    with language_scope(language):
        return Report(check_event_files(EVENTS))


def test_events_findings_in_french_and_german() -> None:
    report = _events("fr")
    with language_scope("fr"):
        french = report.render_text()
    assert "[AVERTISSEMENT] several-kms-hosts" in french
    assert (
        "  signification : Le décompte est partagé : les clients s’activent auprès de plusieurs "
        "hôtes KMS, chacun ne compte que les ordinateurs qui le contactent, et chacun peut donc "
        "rester sous 25 ; un hôte non autorisé ou retiré peut encore être publié."
    ) in french
    assert (
        "  constaté :      Stratégies N vues : 5 (serveur) x2, 25 (poste de travail) x5" in french
    )
    assert f"{EVENTS[1]} ligne 8 (événement 12290, 2026-11-21T18:55:03+00:00)" in french
    with language_scope("de"):
        german = report.render_text()
    assert (
        "  Bedeutung: Mehrere Computer teilen sich eine CMID: Sie wurden aus einem nicht "
        "generalisierten Image geklont, und der Host zählt sie als einen."
    ) in german
    assert "  Lösung:    Führen Sie „sysprep /generalize“ auf dem Image oder „slmgr /rearm“ " in (
        german
    )
    assert german.splitlines()[-1] == "5 Fehler, 2 Warnung(en), 2 OK"


def test_events_json_identical_and_english_unchanged() -> None:
    reports = {language: _events(language) for language in ("en", "fr", "de")}
    texts = set()
    for language, report in reports.items():
        with language_scope(language):
            texts.add(report.to_json())
    assert len(texts) == 1
    with language_scope("en"):
        english = reports["fr"].render_text()
    assert english.splitlines()[-1] == "5 error(s), 2 warning(s), 2 ok"
    assert f"  seen:    1 event(s), first {EVENTS[1]} line 8 (event 12290, " in english


def test_explain_in_french_and_german_json_identical() -> None:
    result = explain("0xC004C003")
    with language_scope("fr"):
        french = result.render_text()
    with language_scope("de"):
        german = result.render_text()
    assert (
        "  cause :         La MAK est bloquée sur le serveur d’activation (révoquée ou divulguée)."
    ) in french.splitlines()
    assert (
        "  Ursache:   Der MAK ist auf dem Aktivierungsserver gesperrt (widerrufen oder "
        "veröffentlicht)."
    ) in german.splitlines()
    assert "  cause:   The MAK is blocked on the activation server (revoked or leaked)." in (
        result.render_text().splitlines()
    )
    outputs = {
        language: _run("--lang", language, "doctor", "explain", "--json", "0xC004B100").stdout
        for language in ("en", "fr", "de")
    }
    assert outputs["en"] == outputs["fr"] == outputs["de"]
    assert json.loads(outputs["fr"])["name"] == "computer not activatable with this MAK"


def test_unreadable_file_in_french() -> None:
    with language_scope("fr"):
        report = Report(check_slmgr_files([FIXTURES / "garbage.bin"]))
        text = report.render_text()
    assert f"  constaté :      {FIXTURES / 'garbage.bin'} : données binaires, pas une sortie " in (
        text
    )
    assert report.findings[0].evidence.endswith(": binary data, not slmgr text output")


@pytest.mark.e2e
def test_scenario_count_below_25_in_french_and_german(tmp_path: Path) -> None:
    """The scenario matrix's 'count below 25' on a real host: the same cause in every
    language, its meaning in French and German, the same machine fields."""
    site = make_site(tmp_path, group="A")
    with host_process(site.host_dir) as host:
        activate_clients(site, tmp_path / "d", "Desktop Standard", host.address, 3)
        options = HostCheckOptions(address=host.address)
        reports = {}
        for language in ("en", "fr", "de"):
            with language_scope(language):
                reports[language] = Report(asyncio.run(check_host_store(site.host_dir, options)))
    machine = {
        language: [(f.check, f.code, f.procedure, f.severity) for f in report.ranked()]
        for language, report in reports.items()
    }
    assert machine["en"] == machine["fr"] == machine["de"]
    assert (reports["en"].top and reports["en"].top.code) == "0xC004F038"
    with language_scope("fr"):
        french = _block(reports["fr"].render_text(), "Cause la plus probable")
        french_json = reports["fr"].to_json()
    assert french[0] == "[ERREUR] count-vs-n-policy 0xC004F038"
    assert french[2] == (
        "  signification : Les clients qui ont besoin de 25 sont comptés mais pas activés "
        "(0xC004F038) ; le décompte est le nombre de CMID distincts des 30 derniers jours."
    )
    with language_scope("de"):
        german = _block(reports["fr"].render_text(), "Wahrscheinlichste Ursache")
    assert german[0] == "[FEHLER] count-vs-n-policy 0xC004F038"
    assert german[2] == (
        "  Bedeutung: Clients, die 25 benötigen, werden gezählt, aber nicht aktiviert "
        "(0xC004F038); die Anzahl ist die Zahl der verschiedenen CMIDs der letzten 30 Tage."
    )
    assert french_json == reports["fr"].to_json()
    assert '"meaning":"Clients that need 25 are counted but not activated' in french_json


def test_text_is_english_and_shown_in_the_language() -> None:
    meaning = Text(N_("Below {server}: no client can activate yet."), server=5)
    assert meaning == "Below 5: no client can activate yet."
    assert shown(meaning) == "Below 5: no client can activate yet."
    with language_scope("fr"):
        assert shown(meaning) == "En dessous de 5 : aucun client ne peut encore s’activer."
        assert shown("quoted: as read") == "quoted: as read"
    nested = Text("{where}: {seen}", where="a.txt:3", seen=Text(N_("DNS publishing disabled")))
    with language_scope("de"):
        assert shown(nested) == "a.txt:3: DNS-Veröffentlichung deaktiviert"
    assert str(nested) == "a.txt:3: DNS publishing disabled"


def test_dates_and_decimals_follow_the_language() -> None:
    stamp = Stamp.utc(1795970400, "%Y-%m-%d %H:%M UTC")
    size = Text(N_("{size} day(s)"), size=Decimal(1.5))
    assert (stamp, size) == ("2026-11-29 16:40 UTC", "1.5 day(s)")
    with language_scope("fr"):
        assert (shown(stamp), shown(size)) == ("29/11/2026 16:40:00 UTC", "1,5 jour(s)")
    with language_scope("de"):
        assert shown(Stamp.utc(1795970400, "%Y-%m-%d", with_time=False)) == "29.11.2026"
    assert joined([]) == ""
    with language_scope("fr"):
        assert shown(joined([Text(N_("{n} (server)"), n=5), "x"])) == "5 (serveur), x"


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_text_values_are_never_formatted_again(first: str, second: str) -> None:
    """Values with braces or percent signs are inserted as they are, in every language."""
    text = Text("{where}: {seen}", where=first, seen=second)
    assert text == f"{first}: {second}"
    for language in ("fr", "de"):
        with language_scope(language):
            assert shown(text) == f"{first}: {second}"


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_port_refused_in_french_json_identical() -> None:
    target = f"127.0.0.1:{_closed_port()}"
    french = _run("--lang", "fr", "doctor", "port", target, "--timeout", "2").stdout
    assert f"  constaté :      {target}: connection refused (rien n’écoute sur ce port)" in (
        french.splitlines()
    )
    assert "[ERREUR] tcp-connect 0x8007274D" in french
    outputs = {
        language: _run("--lang", language, "doctor", "port", "--json", target).stdout
        for language in ("en", "fr", "de")
    }
    assert outputs["en"] == outputs["fr"] == outputs["de"]
    assert "(nothing listens on this port)" in outputs["de"]


def test_store_errors_keep_the_json_english(tmp_path: Path) -> None:
    """An error raised below the doctor (translated where it is raised) does not make the
    JSON depend on the language: the checks are built in English, shown translated."""
    (tmp_path / "host.json").write_text("{bad", encoding="utf-8")
    outputs = {
        language: _run("--lang", language, "doctor", "host", "--store", str(tmp_path), "--json")
        for language in ("en", "fr", "de")
    }
    assert outputs["en"].stdout == outputs["fr"].stdout == outputs["de"].stdout
    assert json.loads(outputs["fr"].stdout)["top"]["check"] == "host-state-unreadable"
    french = _run("--lang", "fr", "doctor", "host", "--store", str(tmp_path)).stdout
    assert (
        "  signification : Le doctor ne peut pas lire ce magasin ; les vérifications qui en ont "
        "besoin ont été ignorées."
    ) in french.splitlines()
