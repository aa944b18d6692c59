"""``doctor client`` against real client stores and a real host: activated, host stopped,
clock skew, a host key attempted, and stores that are not what they claim."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from doctor.sitetools import activate_clients, client_of, doctor, doctor_json, one
from openkms.cli.main import cli
from openkms.core.codes import ResultCode
from openkms.doctor.findings import Report, Severity
from openkms.doctor.network._findings import skew_finding
from openkms.doctor.network.probe import ProbeOutcome, ProbeResult
from openkms.doctor.stores.clientcheck import ClientCheckOptions, check_client_store
from openkms.protocol.messages import ProbeResponse

from helpers import Site, host_process

pytestmark = pytest.mark.e2e


def test_activated_client_is_all_ok(site: Site, tmp_path: Path) -> None:
    with host_process(site.host_dir) as host:
        clients = activate_clients(site, tmp_path, "Standard", host.address, 5)
        client, outcome = clients[-1]
        assert outcome.activated
        code, findings = doctor_json("client", "--store", str(client.directory))
    assert [f for f in findings if f["severity"] != "ok"] == []
    assert code == 0
    assert "Acme Server, Standard, N-policy 5" in one(findings, "setup-key")["evidence"]
    assert "Licensed" in one(findings, "license-status")["evidence"]
    assert "3 rearm(s) left" in one(findings, "rearms-left")["evidence"]
    assert "registered (skms)" in one(findings, "kms-host")["evidence"]
    assert "current count 5" in one(findings, "openkms-host")["evidence"]
    assert one(findings, "clock-skew")["severity"] == "ok"
    assert one(findings, "last-request")["severity"] == "ok"


def test_client_below_count_and_host_stopped(site: Site, tmp_path: Path) -> None:
    with host_process(site.host_dir) as host:
        ((client, outcome),) = activate_clients(site, tmp_path, "Standard", host.address, 1)
        assert outcome.result is ResultCode.COUNT_TOO_LOW
        code, findings = doctor_json("client", "--store", str(client.directory))
        low = one(findings, "count-vs-n-policy")
        assert low["code"] == "0xC004F038"
    assert one(findings, "last-result")["code"] == "0xC004F038"
    # the host stops: the next attempt gets no answer
    assert client.activate().result is ResultCode.NO_KMS_HOST_CONTACTED
    code, findings = doctor_json("client", "--store", str(client.directory), "--timeout", "1")
    assert code == 2
    assert one(findings, "tcp-connect")["code"] == "0x8007274D"
    unanswered = one(findings, "last-request-unanswered")
    assert unanswered["severity"] == "error" and "0x8007274D" in unanswered["evidence"]
    assert one(findings, "license-status")["severity"] == "warning"  # initial grace


def test_clock_skew_against_the_host(site: Site, tmp_path: Path) -> None:
    with host_process(site.host_dir) as host:
        client = client_of(site, tmp_path / "c", "Standard", host.address, "pc")
        behind = ClientCheckOptions(clock=lambda: time.time() - 5 * 3600)
        findings = asyncio.run(check_client_store(client.directory, behind))
        slightly = ClientCheckOptions(clock=lambda: time.time() + 600)
        drift = asyncio.run(check_client_store(client.directory, slightly))
    skew = [f for f in findings if f.check == "clock-skew"]
    assert skew[0].severity is Severity.ERROR and skew[0].code == ResultCode.CLOCK_SKEW.hex
    assert "ahead of" in skew[0].evidence
    assert [f.severity for f in drift if f.check == "clock-skew"] == [Severity.WARNING]
    assert Report(findings).exit_code == 2


def _probe_with_host_time(offset: float) -> ProbeResult:
    response = ProbeResponse(b"x" * 16, "0.1.0", True, 30, 1688, int(1_000_000 + offset), "OKMS-X")
    return ProbeResult(
        "kms", 1688, ProbeOutcome.OPENKMS, ResultCode.OK, "kms:1688", response=response,
        local_time=1_000_000.0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("offset", "severity"),
    [
        (0, Severity.OK),
        (240, Severity.OK),
        (-600, Severity.WARNING),
        (4 * 3600 + 60, Severity.ERROR),
    ],
)
def test_skew_thresholds_with_a_faked_probe(offset: float, severity: Severity) -> None:
    finding = skew_finding(_probe_with_host_time(offset))
    assert finding is not None and finding.severity is severity


def test_host_key_attempted_on_a_client(site: Site, tmp_path: Path) -> None:
    store = tmp_path / "client"
    store.mkdir()
    host_key = str(site.publisher.issue_host_key("B"))
    trust = tmp_path / "trust.json"
    trust.write_bytes(site.publisher.trust().to_json())
    result = CliRunner().invoke(
        cli, ["client", "--store", str(store), "ipk", host_key, "--trust", str(trust)]
    )
    assert result.exit_code == 1 and "host key" in result.stderr
    code, findings = doctor_json("client", "--store", str(store))
    assert code == 2 and one(findings, "no-key")["code"] == "0xC004F014"
    assert (
        "host key" in one(findings, "no-key")["meaning"]
        or "setup key" in one(findings, "no-key")["fix"]
    )

    # a host key that got into client.json (an older tool, a hand edit) is named as such
    client = client_of(site, tmp_path / "edited", "Standard", "127.0.0.1:9", "pc")
    state_file = client.directory / "client.json"
    state = json.loads(state_file.read_text())
    state["state"]["setup_key"] = host_key.replace("-", "")
    state_file.write_text(json.dumps(state))
    code, findings = doctor_json("client", "--store", str(client.directory), "--timeout", "0.5")
    wrong = one(findings, "host-key-on-client")
    assert wrong["severity"] == "error" and "setup key" in wrong["fix"] and code == 2


def test_client_stores_that_are_not_what_they_claim(site: Site, tmp_path: Path) -> None:
    code, findings = doctor_json("client", "--store", str(site.host_dir))
    assert code == 2 and one(findings, "not-a-client-store")["procedure"] == "input"

    client = client_of(site, tmp_path / "c", "Standard", "127.0.0.1:9", "pc")
    (client.directory / "events.jsonl").write_bytes(b"\x00\x01binary garbage\n" * 10)
    code, findings = doctor_json("client", "--store", str(client.directory), "--timeout", "0.5")
    assert one(findings, "events-unreadable")["procedure"] == "input"

    (client.directory / "client.json").write_text("[1, 2")
    code, out, err = doctor("client", "--store", str(client.directory))
    assert code == 2 and "client-state-unreadable" in out and "Traceback" not in out + err


def test_a_client_whose_key_text_was_cleared_still_has_its_key(site: Site, tmp_path: Path) -> None:
    store, trust = tmp_path / "client", tmp_path / "trust.json"
    trust.write_bytes(site.publisher.trust().to_json())
    key = site.product("Standard").setup_key
    base = ["client", "--store", str(store)]
    assert CliRunner().invoke(cli, [*base, "ipk", key, "--trust", str(trust)]).exit_code == 0
    assert CliRunner().invoke(cli, [*base, "cpky"]).exit_code == 0
    _, findings = doctor_json("client", "--store", str(store))
    assert f"partial {key[-5:]}" in one(findings, "setup-key")["evidence"]
    assert not [f for f in findings if f["check"] == "no-key"]
