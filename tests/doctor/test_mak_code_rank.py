"""On a Windows MAK machine, the MAK cause read from a result code is the most likely cause,
above the channel finding (``not-kms-client``) that only says the machine is not a KMS
client: 0xC004C008 printed by ``slmgr /ato`` names the used-up MAK first."""

from __future__ import annotations

from pathlib import Path

import pytest

from doctor.sitetools import top_of
from openkms.doctor import Report, check_event_files, check_slmgr_files
from openkms.doctor.findings import CHECK_RANKS, Finding, Procedure, Severity, rank_of

FIXTURES = Path(__file__).parent / "fixtures"


def _finding(check: str, procedure: Procedure, code: str | None) -> Finding:
    return Finding(
        procedure=procedure,
        severity=Severity.ERROR,
        check=check,
        evidence="e",
        meaning="m",
        fix="f",
        code=code,
    )


def test_the_mak_transcript_names_the_code_first() -> None:
    top = top_of("slmgr", str(FIXTURES / "mak_ato_en.txt"))
    assert (top["check"], top["code"], top["procedure"]) == (
        "slmgr-error-code",
        "0xC004C008",
        "mak-client",
    )
    assert "MAK's activations are used up" in top["fix"]


def test_the_channel_finding_is_still_reported_after_it() -> None:
    report = Report(check_slmgr_files([FIXTURES / "mak_ato_en.txt"]))
    ranked = [f.check for f in report.ranked()]
    assert ranked.index("slmgr-error-code") < ranked.index("not-kms-client")


@pytest.mark.parametrize("check", ["slmgr-error-code", "event-8198-failed"])
def test_a_mak_cause_outranks_the_channel(check: str) -> None:
    mak = _finding(check, Procedure.MAK_CLIENT, "0xC004C003")
    assert rank_of(mak) < CHECK_RANKS["not-kms-client"]


@pytest.mark.parametrize(
    ("check", "procedure", "code"),
    [
        ("slmgr-error-code", Procedure.DNS, "0x8007232B"),  # a KMS cause on a MAK machine
        ("slmgr-error-code", Procedure.MAK_CLIENT, None),
        ("license-status", Procedure.MAK_CLIENT, "0xC004F009"),  # the status: a symptom
    ],
)
def test_other_findings_keep_their_rank(check: str, procedure: Procedure, code: str | None) -> None:
    assert rank_of(_finding(check, procedure, code)) > CHECK_RANKS["not-kms-client"]


def test_slmgr_and_events_together_name_the_code(tmp_path: Path) -> None:
    findings = check_slmgr_files([FIXTURES / "mak_dlv_en.txt"])
    findings += check_event_files([FIXTURES / "spp_8198_mak.xml"])
    top = Report(findings).top
    assert top is not None and (top.check, top.code) == ("event-8198-failed", "0xC004C008")
