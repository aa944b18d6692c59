"""``doctor client`` on MAK clients: the channel first, the MAK's own causes, no KMS checks.

Real stores: a real publisher, its real service process on loopback for online activation
(``client ato`` with a MAK), the publisher's phone confirmation for ``dti``/``atp``. Each
case asserts the findings (check, severity, code) and that no KMS host, DNS or count finding
appears: a MAK client never asks a KMS host.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from doctor.sitetools import doctor_json, one, top_of
from openkms.cli.main import cli
from openkms.client.api import Client
from openkms.core.codes import ResultCode
from openkms.doctor.findings import Finding, Report, Severity
from openkms.doctor.stores.clientcheck import ClientCheckOptions, check_client_store
from openkms.publisher import Publisher
from openkms.publisher.phone import confirm_installation
from pubservice import ServiceProcess, publisher_service, set_publisher_url

from helpers import openkms_cmd

pytestmark = pytest.mark.e2e

DAY = 86400
# What only a KMS client is checked for: none of it may appear for a MAK client.
KMS_ONLY = {
    "setup-key",
    "kms-host",
    "discovery",
    "openkms-host",
    "tcp-connect",
    "not-openkms",
    "clock-skew",
    "count-vs-n-policy",
    "count-below-n-policy",
    "n-policy-mix",
    "no-kms-from-dns",
}


@dataclass
class MakSite:
    publisher: Publisher
    service: ServiceProcess
    root: Path

    def client(self, name: str, mak: str | None = None, url: str | None = None) -> Client:
        """A client store with a MAK of the first product installed (a new MAK by default)."""
        client = Client.open(self.root / name, machine_name=name, publisher_url=url)
        client.install_key(mak or self.mak(), self.publisher.trust())
        return client

    def mak(self, activations: int = 5) -> str:
        product = self.publisher.trust().catalog.products[0]
        return str(self.publisher.issue_mak(product.activation_id, activations)[0])


@pytest.fixture(scope="module")
def mak_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakSite]:
    root = tmp_path_factory.mktemp("mak-doctor")
    publisher = Publisher.init(root / "pub", "MAK Doctor")
    with publisher_service(publisher.directory) as service:
        set_publisher_url(publisher.directory, service.url)  # clients find it in the catalog
        yield MakSite(Publisher(publisher.directory), service, root)
        assert "Traceback" not in service.log()


def checks(findings: list[dict[str, Any]]) -> set[str]:
    return {f["check"] for f in findings}


def no_kms(findings: list[dict[str, Any]]) -> None:
    assert checks(findings) & KMS_ONLY == set(), findings
    assert all("N-policy" not in f["evidence"] for f in findings)


def files_of(store: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(store.iterdir())}


def run_doctor(store: Path, at: float) -> list[Finding]:
    options = ClientCheckOptions(clock=lambda: at, timeout=1.0, dns_timeout=1.0)
    return asyncio.run(check_client_store(store, options))


def test_a_mak_activated_online_is_a_healthy_mak_client(mak_site: MakSite) -> None:
    client = mak_site.client("online")
    assert client.activate().activated
    before = files_of(client.directory)
    code, findings = doctor_json("client", "--store", str(client.directory))
    assert files_of(client.directory) == before  # reading never writes
    assert code == 0 and [f for f in findings if f["severity"] != "ok"] == []
    channel = one(findings, "not-kms-client")
    assert "VOLUME_MAK channel, activated online" in channel["evidence"]
    assert "do not apply" in channel["meaning"]
    status = one(findings, "license-status")
    assert (
        "Licensed" in status["evidence"] and "the MAK ticket is valid until" in status["evidence"]
    )
    assert one(findings, "last-result")["severity"] == "ok"
    assert one(findings, "clock-rollback")["severity"] == "ok"
    assert "publisher's service" in one(findings, "last-request")["meaning"]
    no_kms(findings)


def test_a_mak_activated_by_phone_needs_no_attempt(mak_site: MakSite) -> None:
    client = mak_site.client("phone")
    cid = confirm_installation(mak_site.publisher, str(client.installation_id()))
    client.install_confirmation(cid.confirmation_id)
    code, findings = doctor_json("client", "--store", str(client.directory))
    assert code == 0, findings
    assert "activated by phone" in one(findings, "not-kms-client")["evidence"]
    assert "phone activation is valid until" in one(findings, "license-status")["evidence"]
    assert "last-result" not in checks(findings)  # a phone activation makes no attempt
    no_kms(findings)


def test_a_mak_never_activated_says_so_and_how(mak_site: MakSite) -> None:
    client = mak_site.client("fresh")
    code, findings = doctor_json("client", "--store", str(client.directory))
    assert code == 1
    cause = one(findings, "mak-not-activated")
    assert (cause["severity"], cause["code"]) == ("warning", None)
    assert "not activated (no activation attempt recorded)" in cause["evidence"]
    assert "'client ato'" in cause["fix"] and "'client dti'" in cause["fix"]
    assert one(findings, "license-status")["severity"] == "warning"  # initial grace
    assert "not activated" in one(findings, "not-kms-client")["evidence"]
    no_kms(findings)


def _refused(findings: list[dict[str, Any]], code: ResultCode) -> dict[str, Any]:
    cause = one(findings, "mak-not-activated")
    assert (cause["severity"], cause["code"]) == ("error", code.hex), cause
    assert f"returned {code.hex}" in cause["evidence"]
    no_kms(findings)
    return cause


def test_a_mak_used_up_names_the_key_limit_first(mak_site: MakSite) -> None:
    mak = mak_site.mak(activations=1)
    assert mak_site.client("first", mak).activate().activated
    second = mak_site.client("second", mak)
    assert second.activate().result is ResultCode.HOST_KEY_LIMIT_EXCEEDED
    store = str(second.directory)
    code, findings = doctor_json("client", "--store", store)
    assert code == 2
    cause = _refused(findings, ResultCode.HOST_KEY_LIMIT_EXCEEDED)
    assert "activations are used up" in cause["meaning"] and "NEW-MAK" in cause["fix"]
    failed = one(findings, "event-12289-failed")  # the events, in the publisher's words
    assert failed["meaning"] == cause["meaning"] and failed["procedure"] == "key"
    assert top_of("client", "--store", store)["check"] == "mak-not-activated"


def test_a_blocked_mak_names_the_block(mak_site: MakSite) -> None:
    mak = mak_site.mak()
    mak_site.publisher.block_key(mak)
    client = mak_site.client("blocked", mak)
    assert client.activate().result is ResultCode.KEY_BLOCKED
    _, findings = doctor_json("client", "--store", str(client.directory))
    cause = _refused(findings, ResultCode.KEY_BLOCKED)
    assert "blocked" in cause["meaning"] and "another MAK" in cause["fix"]


def test_an_unreachable_publisher_says_where_and_offers_the_phone(mak_site: MakSite) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    client = mak_site.client("offline", url=url)
    outcome = client.activate()
    assert outcome.result is ResultCode.CONNECTION_REFUSED
    _, findings = doctor_json("client", "--store", str(client.directory))
    cause = _refused(findings, ResultCode.CONNECTION_REFUSED)
    assert url in cause["evidence"] and "was not reached" in cause["meaning"]
    assert "'client dti'" in cause["fix"] and "host" not in cause["fix"]
    failed = one(findings, "event-12289-failed")
    assert "Start the host" not in failed["fix"] and failed["fix"] == cause["fix"]


def test_a_licensed_mak_whose_renewal_is_refused_warns(mak_site: MakSite) -> None:
    mak = mak_site.mak()
    client = mak_site.client("renewal", mak)
    assert client.activate().activated
    mak_site.publisher.block_key(mak)
    assert client.activate().result is ResultCode.KEY_BLOCKED
    code, findings = doctor_json("client", "--store", str(client.directory))
    assert one(findings, "license-status")["severity"] == "ok"
    last = one(findings, "last-result")
    assert (last["severity"], last["code"]) == ("warning", ResultCode.KEY_BLOCKED.hex)
    assert "renewals are refused" in last["meaning"]
    assert "mak-not-activated" not in checks(findings)
    assert one(findings, "event-12289-failed")["code"] == ResultCode.KEY_BLOCKED.hex
    assert code == 2  # the refused 12289 in the client's log
    no_kms(findings)


def test_an_expiring_mak_ticket_warns_with_the_days_left(mak_site: MakSite) -> None:
    client = mak_site.client("expiring")
    outcome = client.activate()
    assert outcome.license is not None and outcome.license.ends_at is not None
    findings = run_doctor(client.directory, outcome.license.ends_at - 10 * DAY + 60)
    soon = [f for f in findings if f.check == "expiry-soon"]
    assert [f.severity for f in soon] == [Severity.WARNING]
    assert "(9 day(s)) left" in soon[0].evidence and "the MAK ticket" in soon[0].evidence
    assert "'client ato'" in soon[0].fix and "publisher's service" in soon[0].fix
    assert Report(findings).top is not None and Report(findings).top.check == "expiry-soon"
    assert {f.check for f in findings} & KMS_ONLY == set()


def test_an_ended_online_activation_is_named_with_its_end(mak_site: MakSite) -> None:
    """Past its MAK ticket's end (no attempt since): the cause is the ended activation, on
    the date it ended, and the fix is to activate online again; not 'never activated'."""
    client = mak_site.client("ended")
    outcome = client.activate()
    assert outcome.license is not None and outcome.license.ends_at is not None
    findings = run_doctor(client.directory, outcome.license.ends_at + DAY)
    (ended,) = [f for f in findings if f.check == "mak-not-activated"]
    assert "online activation of this MAK ended on" in ended.evidence
    assert "no activation attempt recorded" not in ended.evidence
    assert "'client ato'" in ended.fix
    assert {f.check for f in findings} & KMS_ONLY == set()


def test_an_expiring_phone_grant_warns_with_the_fix(mak_site: MakSite) -> None:
    client = mak_site.client("short-grant")
    cid = confirm_installation(mak_site.publisher, str(client.installation_id()), days=12)
    license = client.install_confirmation(cid.confirmation_id)
    assert license.licensed and license.ends_at is not None
    findings = run_doctor(client.directory, time.time())
    (soon,) = [f for f in findings if f.check == "expiry-soon"]
    assert soon.severity is Severity.WARNING and "the phone activation" in soon.evidence
    assert "does not renew by itself" in soon.meaning and "'client dti'" in soon.fix
    # the grant over: the cause is the ended phone activation, not a KMS host
    after = run_doctor(client.directory, license.ends_at + DAY)
    (ended,) = [f for f in after if f.check == "mak-not-activated"]
    assert "phone activation of this MAK ended on" in ended.evidence
    assert "'client atp" in ended.fix
    assert {f.check for f in after} & KMS_ONLY == set()


def test_a_clock_set_back_is_the_clock_finding(mak_site: MakSite) -> None:
    client = mak_site.client("clock")
    assert client.activate().activated
    findings = run_doctor(client.directory, time.time() - 2 * DAY)
    (clock,) = [f for f in findings if f.check == "clock-rollback"]
    assert clock.severity is Severity.WARNING and clock.code == ResultCode.CLOCK_ROLLBACK.hex
    assert "hour(s) behind the trusted time" in clock.evidence
    licensed = [f for f in findings if f.check == "license-status"]
    assert [f.severity for f in licensed] == [Severity.OK]  # timers run on the trusted time


def _text(store: Path, language: str) -> str:
    result = CliRunner().invoke(
        cli, ["--lang", language, "doctor", "client", "--store", str(store)]
    )
    assert "Traceback" not in result.output
    return result.stdout


def test_the_mak_findings_are_translated(mak_site: MakSite) -> None:
    client = mak_site.client("lang")
    english = _text(client.directory, "en")
    assert "the MAK is installed but not activated" in english
    for language in ("fr", "de"):
        text = _text(client.directory, language)
        assert "MAK is installed" not in text and "do not apply" not in text, text
        assert "VOLUME_MAK" in text and "client dti" in text and "mak-not-activated" in text


def test_a_mak_without_a_publisher_service_is_told_how(tmp_path: Path) -> None:
    publisher = Publisher.init(tmp_path / "pub", "No Service")  # its catalog names no URL
    product = publisher.trust().catalog.products[0]
    client = Client.open(tmp_path / "pc")
    client.install_key(str(publisher.issue_mak(product.activation_id, 1)[0]), publisher.trust())
    findings = run_doctor(client.directory, time.time())
    (cause,) = [f for f in findings if f.check == "mak-not-activated"]
    assert cause.severity is Severity.WARNING and "names none" in cause.meaning
    assert "--publisher-url" in cause.fix and "'client dti'" in cause.fix
    assert {f.check for f in findings} & KMS_ONLY == set()


def _utc(epoch: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def test_the_activation_that_ended_last_is_named(mak_site: MakSite) -> None:
    """Activated by phone (a short grant), then online: once both have ended, the cause is
    the online activation, which ended last, with its date and the online fix."""
    client = mak_site.client("phone-then-online")
    cid = confirm_installation(mak_site.publisher, str(client.installation_id()), days=12)
    phone = client.install_confirmation(cid.confirmation_id)
    outcome = client.activate()
    assert outcome.activated and outcome.license is not None
    online_end = outcome.license.ends_at
    assert online_end is not None and phone.ends_at is not None and online_end > phone.ends_at
    findings = run_doctor(client.directory, online_end + DAY)
    (ended,) = [f for f in findings if f.check == "mak-not-activated"]
    assert f"online activation of this MAK ended on {_utc(online_end)}" in ended.evidence
    assert "'client ato'" in ended.fix and "before the grant ends" not in ended.fix
    # between the two ends: licensed online, the phone grant long over
    between = run_doctor(client.directory, phone.ends_at + DAY)
    assert "mak-not-activated" not in {f.check for f in between}


def _faketime_doctor(store: Path, days: int, *extra: str) -> tuple[int, str]:
    """``openkms doctor client --store STORE EXTRA`` in a process ``days`` days ahead."""
    command = openkms_cmd("doctor", "client", "--store", str(store), "--timeout", "1", *extra)
    result = subprocess.run(
        ["faketime", "-f", f"+{days}d", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result.returncode, result.stdout


def test_an_expired_mak_ticket_in_a_real_process(mak_site: MakSite) -> None:
    """The real doctor in a process whose clock is past the MAK ticket's end: the online
    activation ended (on its date, with the fix), the license under the MAK client heading;
    the client itself still refuses the expired ticket."""
    client = mak_site.client("expired-process")
    outcome = client.activate()
    assert outcome.license is not None and outcome.license.ends_at is not None
    end = outcome.license.ends_at
    days = (end - int(time.time())) // DAY + 2  # past the end, within the 30 days' grace
    code, out = _faketime_doctor(client.directory, days, "--json")
    report = json.loads(out)
    assert code == 1 and report["top"]["check"] == "mak-not-activated"
    ended = report["top"]
    assert ended["evidence"].endswith(f"the online activation of this MAK ended on {_utc(end)}"), (
        ended
    )
    assert "no activation attempt recorded" not in ended["evidence"]
    assert "'client ato'" in ended["fix"] and "'client dti'" in ended["fix"]
    procedures = {p["procedure"]: p["findings"] for p in report["procedures"]}
    assert "client" not in procedures  # nothing under the KMS client procedure
    mak = {f["check"]: f for f in procedures["mak-client"]}
    assert set(mak) == {"license-status", "rearms-left"}
    assert mak["license-status"]["severity"] == "warning"  # the grace after the end
    _code, text = _faketime_doctor(client.directory, days)
    assert "== MAK client ==" in text and "== KMS client ==" not in text, text
    later = Client.open(client.directory, clock=lambda: end + DAY, read_only=True)
    assert not later.license().licensed  # the client refuses it: only the words changed


def test_an_edited_state_past_the_end_is_not_an_ended_activation(mak_site: MakSite) -> None:
    """Tampered, not expired: an edited client.json past the ticket's end is the tampered
    state (0xC004D301), as before, never an activation that ended."""
    client = mak_site.client("edited")
    outcome = client.activate()
    assert outcome.license is not None and outcome.license.ends_at is not None
    state = client.directory / "client.json"
    data = json.loads(state.read_text())
    data["state"]["rearms_used"] += 1  # by hand: the seal no longer matches
    state.write_text(json.dumps(data))
    findings = run_doctor(client.directory, outcome.license.ends_at + DAY)
    assert "mak-not-activated" not in {f.check for f in findings}
    (status,) = [f for f in findings if f.check == "license-status"]
    assert status.code == ResultCode.STATE_TAMPERED.hex and status.severity is Severity.ERROR
    assert all("ended on" not in f.evidence for f in findings)


def test_a_mak_client_is_headed_as_one_in_every_language(mak_site: MakSite) -> None:
    client = mak_site.client("heading")
    assert client.activate().activated
    headings = {"en": "== MAK client ==", "fr": "== Client MAK ==", "de": "== MAK-Client =="}
    kms = {"en": "== KMS client ==", "fr": "== Client KMS ==", "de": "== KMS-Client =="}
    for language, heading in headings.items():
        text = _text(client.directory, language)
        assert heading in text and kms[language] not in text, text
        block = text.split(heading, 1)[1].split("\n== ", 1)[0]
        assert "license-status" in block and "rearms-left" in block
