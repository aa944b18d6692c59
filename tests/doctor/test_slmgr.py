from __future__ import annotations

from pathlib import Path

import pytest

from openkms.core.license import LicenseState
from openkms.doctor import check_slmgr_files, parse_slmgr, parse_slmgr_text
from openkms.doctor.findings import Severity

FIXTURES = Path(__file__).parent / "fixtures"


def _by_check(findings):
    out: dict[str, list] = {}
    for f in findings:
        out.setdefault(f.check, []).append(f)
    return out


def test_parse_english_host_dlv():
    (lic,) = parse_slmgr(FIXTURES / "host_dlv_en.txt")
    assert lic.name == "Windows(R), ServerStandard edition"
    assert lic.channel == "VOLUME_KMS_WS19"
    assert lic.partial_key == "7HBDQ"
    assert lic.state is LicenseState.LICENSED
    assert lic.is_host and not lic.is_client
    assert lic.number("current_count") == 1
    assert lic.number("listening_port") == 1688
    assert lic.flag("dns_publishing") is False
    assert lic.text("priority") == "Normal"
    assert lic.number("total_requests") == 312
    assert lic.number("failed_requests") == 40
    assert lic.requests_by_status["licensed"] == 260
    assert lic.requests_by_status["initial grace period"] == 12


def test_parse_french_host_dli():
    (lic,) = parse_slmgr(FIXTURES / "host_dli_fr.txt")
    assert lic.channel == "VOLUME_KMS_WS22"
    assert lic.partial_key == "WX4NM"
    assert lic.state is LicenseState.LICENSED
    assert lic.is_host
    assert lic.number("current_count") == 12
    assert lic.flag("dns_publishing") is True
    assert lic.requests_by_status["avec licence"] == 45


def test_parse_english_client_dlv():
    (lic,) = parse_slmgr(FIXTURES / "client_dlv_en.txt")
    assert lic.is_client and not lic.is_host
    assert lic.channel == "VOLUME_KMSCLIENT"
    assert lic.text("cmid") == "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
    assert lic.kms_machine == ("kms01.contoso.com", 1688)
    assert lic.expiration_minutes == 259198
    assert lic.number("activation_interval") == 120
    assert lic.number("renewal_interval") == 10080
    assert lic.flag("host_caching") is True


def test_parse_french_client_dli():
    (lic,) = parse_slmgr(FIXTURES / "client_dli_fr.txt")
    assert lic.state is LicenseState.INITIAL_GRACE
    assert lic.expiration_minutes == 14400
    assert lic.text("cmid") == "9f8e7d6c-5b4a-4392-8170-fedcba987654"
    assert lic.kms_machine == ("kms02.contoso.fr", 1688)
    assert lic.flag("host_caching") is False


def test_french_without_accents_nbsp_and_cp850(tmp_path: Path):
    text = (
        "Nom\u00a0: Windows(R), Enterprise edition\r\n"
        "Description\u202f: Windows(R) Operating System, VOLUME_KMSCLIENT channel\r\n"
        "Cle de produit partielle: ABCDE\r\n"
        "État de la licence : Sans licence\r\n"
    )
    for encoding, body in (("utf-8", text), ("cp850", text.replace("\u202f", " "))):
        path = tmp_path / f"dli-{encoding}.txt"
        path.write_bytes(body.encode(encoding))
        (lic,) = parse_slmgr(path)
        assert lic.partial_key == "ABCDE"
        assert lic.state is LicenseState.UNLICENSED
        assert lic.channel == "VOLUME_KMSCLIENT"


def test_utf16_saved_by_notepad(tmp_path: Path):
    path = tmp_path / "dlv.txt"
    path.write_bytes((FIXTURES / "client_dlv_en.txt").read_text().encode("utf-16"))
    (lic,) = parse_slmgr(path)
    assert lic.channel == "VOLUME_KMSCLIENT"


def test_dlv_all_ignores_uninstalled_licenses():
    text = (
        "Name: Office 16, Office16ProPlusVL_KMS_Client edition\n"
        "Description: Office 16, VOLUME_KMSCLIENT channel\n"
        "License Status: Unlicensed\n\n"
        "Name: Windows(R), Enterprise edition\n"
        "Description: Windows(R) Operating System, VOLUME_KMSCLIENT channel\n"
        "Partial Product Key: 2YT43\n"
        "License Status: Licensed\n"
    )
    blocks = parse_slmgr_text(text)
    assert len(blocks) == 2
    # the Office one is a KMS client license block too: installed via channel
    assert blocks[1].partial_key == "2YT43"


def test_english_host_findings():
    found = _by_check(check_slmgr_files([FIXTURES / "host_dlv_en.txt"]))
    assert found["license-status"][0].severity is Severity.OK
    stuck = found["count-stuck-at-1"][0]
    assert stuck.severity is Severity.ERROR and stuck.procedure == "cmid"
    assert "host_dlv_en.txt:17" in stuck.evidence
    assert "sysprep /generalize" in stuck.fix
    assert found["dns-publishing-disabled"][0].severity is Severity.WARNING
    assert found["failed-requests-high"][0].code == "0xC004F042"
    assert "current-count" not in found  # stuck-at-1 replaces the plain count finding


def test_snapshots_in_time_order_show_failures_rising():
    # passed newest first: the trusted time orders them
    files = [FIXTURES / "host_dlv_en_later.txt", FIXTURES / "host_dlv_en.txt"]
    found = _by_check(check_slmgr_files(files))
    (rising,) = found["failed-requests-rising"]
    assert "40" in rising.evidence and "95" in rising.evidence
    assert rising.severity is Severity.WARNING


def test_french_host_count_below_25_is_a_warning():
    found = _by_check(check_slmgr_files([FIXTURES / "host_dli_fr.txt"]))
    (count,) = found["current-count"]
    assert count.severity is Severity.WARNING
    assert count.code == "0xC004F038"
    assert "dns-publishing-disabled" not in found


def test_french_client_in_grace():
    found = _by_check(check_slmgr_files([FIXTURES / "client_dli_fr.txt"]))
    assert found["license-status"][0].severity is Severity.ERROR
    assert found["license-status"][0].procedure == "client"
    assert found["expiry-soon"][0].severity is Severity.WARNING
    assert found["kms-set-by-hand"][0].severity is Severity.OK
    assert "disabled" in found["host-caching"][0].evidence


def test_healthy_client_is_all_ok():
    findings = check_slmgr_files([FIXTURES / "client_dlv_en.txt"])
    assert findings and all(f.severity is Severity.OK for f in findings)


def test_mak_client_warns():
    found = _by_check(check_slmgr_files([FIXTURES / "client_mak_en.txt"]))
    assert found["not-kms-client"][0].severity is Severity.WARNING
    assert "/ipk" in found["not-kms-client"][0].fix


def test_host_key_on_client():
    found = _by_check(check_slmgr_files([FIXTURES / "client_hostkey_en.txt"]))
    assert found["host-key-on-client"][0].severity is Severity.ERROR
    assert found["license-status"][0].code == "0xC004F009"
    assert found["no-kms-from-dns"][0].code == "0x8007232B"


@pytest.mark.parametrize("name", ["not_slmgr_de.txt", "garbage.bin", "host_events.csv"])
def test_unreadable_inputs_are_findings(name):
    (finding,) = check_slmgr_files([FIXTURES / name])
    # German is known now; this file's first label is not, so its labels are named.
    expected = "slmgr-labels-unknown" if name == "not_slmgr_de.txt" else "slmgr-unreadable"
    assert finding.check == expected
    assert finding.procedure == "input"
    assert finding.severity is Severity.ERROR


def test_missing_and_empty_files(tmp_path: Path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    findings = check_slmgr_files([tmp_path / "missing.txt", empty])
    assert [f.check for f in findings] == ["slmgr-unreadable", "slmgr-unreadable"]
    assert "cannot read" in findings[0].evidence
