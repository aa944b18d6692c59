"""``doctor slmgr`` on Windows MAK, retail and OEM machines: never the KMS client procedure.

A machine whose product key channel is MAK (``Description: ... VOLUME_MAK channel``,
``Product Key Channel: Volume:MAK``, in every display language) activates once with
Microsoft, online (``slmgr /ato``) or by phone (``slui 4``), and never asks a KMS host: its
findings sit under the ``mak-client`` procedure with MAK causes and fixes, and no DNS SRV,
TCP 1688 or count advice. RETAIL and OEM licenses likewise, under ``retail``. The fixtures
are ``slmgr /dlv`` as Windows 10/11 and Server 2019/2022 print it (English, French, German);
``mak_ato_en.txt`` is a console transcript of ``slmgr /ato`` then ``/dlv``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from doctor.sitetools import doctor, doctor_json, one
from openkms.doctor import check_slmgr_files, parse_slmgr_text
from openkms.doctor._mscodes import mak_fix
from openkms.doctor.findings import Procedure
from openkms.doctor.slmgr._role import role_of

from helpers import openkms_cmd

FIXTURES = Path(__file__).parent / "fixtures"
MAK_NOTIFICATION = ["mak_dlv_en.txt", "mak_dlv_fr.txt", "mak_dlv_de.txt"]
KMS_PROCEDURES = {"client", "host", "dns", "port", "count", "cmid"}
KMS_CHECKS = {"no-kms-from-dns", "kms-set-by-hand", "host-caching", "current-count"}


def _findings(*names: str) -> list[dict[str, object]]:
    code, findings = doctor_json("slmgr", *(str(FIXTURES / n) for n in names))
    assert code == 2
    return findings


def _no_kms_advice(findings: list[dict[str, object]]) -> None:
    """Nothing under a KMS procedure, no KMS check, no DNS/1688/count fix."""
    assert {f["procedure"] for f in findings} & KMS_PROCEDURES == set(), findings
    assert {f["check"] for f in findings} & KMS_CHECKS == set()
    for finding in findings:
        fix = str(finding["fix"])
        assert "1688" not in fix and "SRV" not in fix and "count" not in fix, finding


def _with_line(line: str, tmp_path: Path, base: str = "mak_dlv_en.txt") -> Path:
    """A transcript: ``slmgr /ato`` printing ``line``, then the MAK machine's ``/dlv``."""
    path = tmp_path / "ato.txt"
    text = (FIXTURES / base).read_text(encoding="utf-8")
    path.write_text(f"C:\\>slmgr /ato\n{line}\n\n{text}", encoding="utf-8")
    return path


@pytest.mark.parametrize("name", MAK_NOTIFICATION)
def test_a_mak_in_notification_is_a_mak_client_in_every_language(name: str) -> None:
    findings = _findings(name)
    status = one(findings, "license-status")
    assert (status["procedure"], status["severity"]) == ("mak-client", "error")
    assert status["code"] == "0xC004F009"
    assert "VOLUME_MAK" in str(status["meaning"]) and "never asks a KMS host" in str(
        status["meaning"]
    )
    assert "'slmgr /ato'" in str(status["fix"]) and "'slui 4'" in str(status["fix"])
    assert "proxy" in str(status["fix"])
    assert one(findings, "not-kms-client")["procedure"] == "mak-client"
    _no_kms_advice(findings)


def test_a_mak_in_grace_warns_of_the_end_with_the_mak_fix() -> None:
    findings = _findings("mak_grace_en.txt")
    expiry = one(findings, "expiry-soon")
    assert (expiry["procedure"], expiry["severity"]) == ("mak-client", "warning")
    assert "3 day(s)" in str(expiry["meaning"])
    assert "'slmgr /ato'" in str(expiry["fix"]) and "'slui 4'" in str(expiry["fix"])
    assert one(findings, "license-status")["procedure"] == "mak-client"
    _no_kms_advice(findings)


def test_an_unlock_limit_on_a_mak_names_the_used_up_mak() -> None:
    findings = _findings("mak_ato_en.txt")
    code = one(findings, "slmgr-error-code")
    assert (code["procedure"], code["code"]) == ("mak-client", "0xC004C008")
    assert "exceeded its unlock limit" in str(code["meaning"])
    assert "MAK's activations are used up" in str(code["fix"])
    assert "'slui 4'" in str(code["fix"]) and "publisher" not in str(code["fix"])
    _no_kms_advice(findings)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("Error: 0xC004C003 The activation server determined the specified product key "
         "has been blocked.", "Microsoft blocked this MAK"),
        ("Error: 0xC004C020 The activation server reported that the Multiple Activation "
         "Key has exceeded its limit.", "activations are used up"),
        ("Erreur : 0xC004C021 Le serveur d\u2019activation a signalé que la limite "
         "d\u2019extension "
         "de la clé d\u2019activation multiple a été dépassée.", "activations are used up"),
        ("Fehler: 0x80072EE7 Der Servername oder die Serveradresse konnte nicht "
         "verarbeitet werden.", "Microsoft's activation servers"),
    ],
)  # fmt: skip
def test_mak_codes_in_a_mak_transcript_get_the_mak_fix(
    line: str, words: str, tmp_path: Path
) -> None:
    code, findings = doctor_json("slmgr", str(_with_line(line, tmp_path)))
    assert code == 2
    found = one(findings, "slmgr-error-code")
    assert found["procedure"] == "mak-client"
    assert words in str(found["fix"])
    _no_kms_advice(findings)


def test_dns_name_does_not_exist_is_not_a_mak_cause(tmp_path: Path) -> None:
    assert mak_fix(0x8007232B) is None and mak_fix(0xC004F074) is None
    line = "Error: 0x8007232B DNS name does not exist."
    _code, findings = doctor_json("slmgr", str(_with_line(line, tmp_path)))
    found = one(findings, "slmgr-error-code")
    assert found["procedure"] == "dns" and found["code"] == "0x8007232B"
    assert "Not a MAK cause" in str(found["meaning"])
    assert one(findings, "license-status")["procedure"] == "mak-client"


def test_mak_codes_alone_keep_their_own_explanation(tmp_path: Path) -> None:
    """Without a MAK license block, a code is explained as `explain` does (KMS host key too)."""
    path = tmp_path / "ato.txt"
    path.write_text("Error: 0xC004C008 The activation server reported ...\n", encoding="utf-8")
    found = one(doctor_json("slmgr", str(path))[1], "slmgr-error-code")
    assert found["procedure"] == "host"
    assert "a MAK, the number of activations" in str(found["meaning"])


@pytest.mark.parametrize("name", ["retail_dlv_en.txt", "oem_dlv_en.txt"])
def test_retail_and_oem_are_not_sent_to_kms_procedures(name: str) -> None:
    findings = _findings(name)
    status = one(findings, "license-status")
    assert status["procedure"] == "retail"
    assert "'slmgr /ato'" in str(status["fix"]) and "'slui 4'" in str(status["fix"])
    assert one(findings, "not-kms-client")["procedure"] == "retail"
    _no_kms_advice(findings)


def test_a_kms_client_stays_a_kms_client() -> None:
    findings = _findings("client_notification_en.txt")
    assert one(findings, "license-status")["procedure"] == "client"


@pytest.mark.parametrize(
    ("lines", "role"),
    [
        (["Description: Windows(R) Operating System, VOLUME_MAK channel"], "mak-client"),
        (["Product Key Channel: Volume:MAK"], "mak-client"),
        (["Canal de la clé de produit : Volume:MAK"], "mak-client"),
        (["Product Key-Kanal: Volume:MAK"], "mak-client"),
        (["Description: Windows(R) Operating System, RETAIL channel"], "retail"),
        (["Product Key Channel: OEM:NONSLP"], "retail"),
        (["Description: Windows(R) Operating System, OEM_COA_NSLP channel"], "retail"),
        (["Description: Windows(R) Operating System, VOLUME_KMSCLIENT channel"], "client"),
        (["Description: Windows(R) Operating System, VOLUME_KMS_R2_B channel",
          "Key Management Service is enabled on this machine"], "host"),
    ],
)  # fmt: skip
def test_the_channel_decides_the_procedure(lines: list[str], role: str) -> None:
    text = "\n".join(["Name: Windows(R), Enterprise edition", "Partial Product Key: 7RQ4C", *lines])
    (block,) = parse_slmgr_text(text)
    assert role_of(block) == Procedure(role)


@settings(max_examples=60, deadline=None)
@given(channel=st.text(max_size=40), status=st.text(max_size=30))
def test_any_channel_and_status_is_read_without_a_traceback(
    tmp_path_factory: pytest.TempPathFactory, channel: str, status: str
) -> None:
    path = tmp_path_factory.mktemp("hyp") / "dlv.txt"
    text = (
        "Name: Windows(R), Enterprise edition\n"
        f"Product Key Channel: {channel}\nPartial Product Key: 7RQ4C\n"
        f"License Status: {status}\nNotification Reason: 0xC004C020\n"
    )
    path.write_text(text, encoding="utf-8", errors="replace")
    for finding in check_slmgr_files([path]):
        assert finding.procedure in Procedure


def test_the_cli_heads_a_mak_machine_as_a_mak_client() -> None:
    code, out, err = doctor("slmgr", str(FIXTURES / "mak_dlv_en.txt"))
    assert code == 2 and "Traceback" not in out + err
    assert "== MAK client ==" in out and "== KMS client ==" not in out
    assert "[ERROR] license-status 0xC004F009" in out
    data = json.loads(doctor("slmgr", str(FIXTURES / "mak_dlv_en.txt"), "--json")[1])
    assert {g["procedure"] for g in data["procedures"]} == {"mak-client"}


@pytest.mark.parametrize(
    ("lang", "heading"), [("fr", "== Client MAK =="), ("de", "== MAK-Client ==")]
)
def test_the_mak_heading_in_french_and_german(lang: str, heading: str) -> None:
    done = subprocess.run(
        openkms_cmd("--lang", lang, "doctor", "slmgr", str(FIXTURES / f"mak_dlv_{lang}.txt")),
        capture_output=True,
        text=True,
        check=False,
        encoding="utf-8",
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert heading in done.stdout and "== KMS-Client ==" not in done.stdout
    assert "== Client KMS ==" not in done.stdout
    assert "slui 4" in done.stdout


def test_a_code_finding_is_punctuated_as_its_language_writes_it() -> None:
    """French puts a space before the colon between a code's name and its meaning; the
    ``--json`` form stays English whatever the language."""
    fixture = str(FIXTURES / "mak_ato_en.txt")
    shown = {}
    for lang in ("fr", "de"):
        done = subprocess.run(
            openkms_cmd("--lang", lang, "doctor", "slmgr", fixture),
            capture_output=True,
            text=True,
            check=False,
            encoding="utf-8",
        )
        assert "Traceback" not in done.stderr
        shown[lang] = done.stdout
    assert "limite d\u2019activation : Le serveur" in shown["fr"]
    assert "Aktivierungslimit: Der Aktivierungsserver" in shown["de"]
    code = one(_findings("mak_ato_en.txt"), "slmgr-error-code")
    assert str(code["meaning"]).startswith("product key over its activation limit: The ")
