"""Rule: the doctor names the real cause first.

A corpus of artefacts written from Microsoft's documentation (slmgr output and transcripts
in several display languages, event text in every copy form support articles quote), each
with the finding that must come first. The accuracy over the corpus is the number quoted
in docs/doctor.md; this test holds every case.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openkms.doctor import Report, check_event_files, check_slmgr_files
from openkms.doctor.catalogue import check_of

CORPUS = Path(__file__).parent / "corpus"

# file -> (accepted top checks, expected code of the top finding or None)
SLMGR: dict[str, tuple[frozenset[str], str | None]] = {
    "ato_en_f074.txt": (frozenset({"slmgr-error-code"}), "0xC004F074"),
    "ato_zh_f074.txt": (frozenset({"slmgr-error-code"}), "0xC004F074"),
    "ato_fr_f038.txt": (frozenset({"slmgr-error-code"}), "0xC004F038"),
    "ato_de_f06c.txt": (frozenset({"slmgr-error-code"}), "0xC004F06C"),
    "ato_es_8007232b.txt": (frozenset({"slmgr-error-code"}), "0x8007232B"),
    "transcript_en_ipk_ato_f06c.txt": (frozenset({"slmgr-error-code"}), "0xC004F06C"),
    "ato_ja_unknown_labels_f074.txt": (frozenset({"slmgr-error-code"}), "0xC004F074"),
    "dlv_en_kmsclient_notification_f074.txt": (frozenset({"no-kms-from-dns"}), None),
    "mak_en_unlicensed.txt": (frozenset({"not-kms-client"}), None),
    "mak_en_ato_c003.txt": (frozenset({"slmgr-error-code"}), "0xC004C003"),
    "retail_en_grace.txt": (frozenset({"not-kms-client"}), None),
    "mak_fr_notification.txt": (frozenset({"not-kms-client"}), None),
    "oem_de_unlicensed.txt": (frozenset({"not-kms-client"}), None),
    "dlv_es_client_expiring.txt": (frozenset({"expiry-soon"}), None),
    "dlv_en_client_expiring.txt": (frozenset({"expiry-soon"}), None),
    "dlv_de_host_count_low.txt": (frozenset({"current-count"}), "0xC004F038"),
    "dlv_it_unknown.txt": (frozenset({"slmgr-labels-unknown"}), None),
    "host_en_not_activated.txt": (frozenset({"license-status"}), "0xC004F041"),
    "host_en_count_stuck.txt": (frozenset({"count-stuck-at-1"}), None),
    "host_fr_count_below_25.txt": (frozenset({"current-count"}), "0xC004F038"),
}
EVENTS: dict[str, tuple[frozenset[str], str | None]] = {
    "ev_clock_skew_sourcefirst.txt": (frozenset({"event-12288-failed"}), "0xC004F06C"),
    "ev_clock_skew_format_list.txt": (frozenset({"event-12289-failed"}), "0xC004F06C"),
    "ev_clock_skew_host_wevtutil.txt": (frozenset({"event-12290-failed"}), "0xC004F06C"),
    "ev_host_not_activated_general_tab.txt": (frozenset({"event-12289-failed"}), "0xC004F041"),
    "ev_unanswered_but_host_answered.txt": (frozenset({"response-not-in-client-log"}), None),
    "ev_clones_one_name_wevtutil.txt": (frozenset({"cmid-clones-one-name"}), None),
    "ev_split_two_hosts_format_list.txt": (frozenset({"several-kms-hosts"}), None),
    "ev_unanswered_eventid_first.txt": (frozenset({"request-unanswered"}), "0xC004F074"),
    "ev_dns_publish_failed_wevtutil.txt": (frozenset({"dns-publishing-failed"}), "0x8007232D"),
    "ev_count_low_de.txt": (frozenset({"count-below-n-policy"}), "0xC004F038"),
}


def _top(name: str) -> tuple[str, str | None, str]:
    path = CORPUS / name
    findings = check_slmgr_files([path]) if name in SLMGR else check_event_files([path])
    report = Report(findings)
    top = report.top
    assert top is not None, name
    return top.check, top.code, report.render_text()


@pytest.mark.parametrize("name", sorted({**SLMGR, **EVENTS}))
def test_top_finding_is_the_real_cause(name: str) -> None:
    checks, code = {**SLMGR, **EVENTS}[name]
    check, found_code, text = _top(name)
    assert check in checks, text
    if code is not None:
        assert found_code == code, text


def test_every_finding_is_a_check_of_the_catalogue() -> None:
    for name in sorted({**SLMGR, **EVENTS}):
        path = CORPUS / name
        findings = check_slmgr_files([path]) if name in SLMGR else check_event_files([path])
        for finding in findings:
            entry = check_of(finding.check)
            assert entry is not None, (name, finding.check)


def test_corpus_has_every_file_and_no_stray_one() -> None:
    assert {p.name for p in CORPUS.iterdir()} == set(SLMGR) | set(EVENTS)


@pytest.mark.parametrize(
    "name", ["mak_en_unlicensed.txt", "retail_en_grace.txt", "mak_fr_notification.txt"]
)
def test_mak_and_retail_get_no_kms_advice(name: str) -> None:
    report = Report(check_slmgr_files([CORPUS / name]))
    for finding in report.findings:
        assert "1688" not in finding.fix or "GVLK" in finding.fix, finding
        assert finding.procedure not in ("dns", "port", "count"), finding


def test_host_answered_is_not_reported_as_zero_answered() -> None:
    findings = check_event_files([CORPUS / "ev_unanswered_but_host_answered.txt"])
    assert not [f for f in findings if f.check == "request-unanswered"]
    (summary,) = [f for f in findings if f.check == "events-read"]
    assert "1 processed by a host" in summary.evidence


def test_unknown_language_names_the_labels_and_what_was_read() -> None:
    (finding,) = check_slmgr_files([CORPUS / "dlv_it_unknown.txt"])
    assert "stato licenza" in finding.evidence
    assert "number(s)" in finding.evidence


def test_split_names_the_hosts() -> None:
    report = Report(check_event_files([CORPUS / "ev_split_two_hosts_format_list.txt"]))
    assert report.top is not None
    assert "kms01.contoso.com:1688" in report.top.evidence
    assert "kms02.contoso.com:1688" in report.top.evidence


def test_report_text_and_json_name_the_most_likely_cause_first() -> None:
    report = Report(check_event_files([CORPUS / "ev_clock_skew_format_list.txt"]))
    text = report.render_text()
    assert text.startswith("== Most likely cause ==")
    assert "0xC004F06C" in text.splitlines()[1]
    top = json.loads(report.to_json())["top"]
    assert top["code"] == "0xC004F06C"
    clock = text.index("0xC004F06C")
    assert "0xC004F074" not in text[:clock]
