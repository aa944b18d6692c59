from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from openkms.doctor import ArtefactError, Finding, Procedure, Report, Severity, explain, parse_code
from openkms.doctor.cli import doctor

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize(
    "text", ["0xC004F074", "C004F074", "c004f074", "3221549172", "-1073418124", 0xC004F074]
)
def test_parse_code_forms(text):
    assert parse_code(text) == 0xC004F074


def test_eight_digits_are_hex():
    assert parse_code("80070005") == 0x80070005


def test_explain_known():
    result = explain("0xC004F038")
    assert result.name == "COUNT_TOO_LOW" and result.known
    assert "25 desktop" in result.fix
    assert result.checks == ("count", "cmid")


def test_explain_unknown_is_decoded():
    result = explain("0xC004F999")
    assert not result.known
    assert "failure" in result.decoded and "facility ITF" in result.decoded


def test_explain_rejects_garbage():
    with pytest.raises(ArtefactError):
        explain("not-a-code")
    with pytest.raises(ArtefactError):
        explain("0x1FFFFFFFF")


def test_report_order_and_exit_codes():
    def f(procedure, severity):
        return Finding(procedure=procedure, severity=severity, check="c", evidence="e", meaning="m")

    report = Report(
        [
            f(Procedure.CLOCK, Severity.WARNING),
            f(Procedure.HOST, Severity.OK),
            f(Procedure.INPUT, Severity.OK),
        ]
    )
    assert [p for p, _ in report.grouped()] == ["input", "host", "clock"]
    assert report.exit_code == 1
    report.add([f(Procedure.DNS, Severity.ERROR)])
    assert report.exit_code == 2
    assert Report([f(Procedure.HOST, Severity.OK)]).exit_code == 0
    data = json.loads(report.to_json())
    assert data["exit_code"] == 2
    assert data["procedures"][0]["findings"][0]["severity"] == "ok"
    assert "== Clocks ==" in report.render_text()


def test_cli_explain():
    result = CliRunner().invoke(doctor, ["explain", "0xC004F074"])
    assert result.exit_code == 0
    assert "NO_KMS_HOST_CONTACTED" in result.output
    result = CliRunner().invoke(doctor, ["explain", "--json", "-1073418124"])
    assert json.loads(result.output)["code"] == "0xC004F074"


def test_cli_explain_error_line():
    result = CliRunner().invoke(doctor, ["explain", "zzz"])
    assert result.exit_code == 2
    assert result.output.startswith("Error: 0x80070057 ")
    assert "\nFix: " in result.output
    assert "Traceback" not in result.output


def test_cli_bundle_unwritable_output_has_error_and_fix_lines(tmp_path):
    store = tmp_path / "empty"
    store.mkdir()
    (tmp_path / "a-file").write_text("not a directory")
    output = tmp_path / "a-file" / "bundle.zip"
    result = CliRunner().invoke(doctor, ["bundle", "--store", str(store), "-o", str(output)])
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert any(line.startswith("Error: 0x") for line in lines), result.output
    assert any(line.startswith("Fix: ") for line in lines), result.output


def test_cli_slmgr_exit_codes():
    runner = CliRunner()
    ok = runner.invoke(doctor, ["slmgr", str(FIXTURES / "client_dlv_en.txt")])
    assert ok.exit_code == 0, ok.output
    warn = runner.invoke(doctor, ["slmgr", str(FIXTURES / "client_mak_en.txt")])
    assert warn.exit_code == 1
    err = runner.invoke(doctor, ["slmgr", "--json", str(FIXTURES / "host_dlv_en.txt")])
    assert err.exit_code == 2
    assert json.loads(err.output)["worst"] == "error"


def test_cli_events_garbage_no_traceback():
    result = CliRunner().invoke(doctor, ["events", str(FIXTURES / "garbage.bin")])
    assert result.exit_code == 2
    assert "events-unreadable" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
