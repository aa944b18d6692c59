"""``doctor client`` on a MAK client after ``client rearm``: what rearm did, and what to do.

A real publisher, its real service process on loopback (the fixture of
``test_doctor_client_mak_e2e``), a MAK activated online, then ``client rearm`` run as a user
runs it, then ``doctor client``.
"""

from __future__ import annotations

import subprocess

import pytest

from doctor.sitetools import doctor_json, one
from doctor.test_doctor_client_mak_e2e import MakSite, mak_site, no_kms

from helpers import openkms_cmd

pytestmark = pytest.mark.e2e
__all__ = ["mak_site"]  # the module's fixture, shared


def test_a_rearmed_mak_says_what_rearm_did_and_how_to_activate(mak_site: MakSite) -> None:
    client = mak_site.client("rearmed")
    assert client.activate().activated
    done = subprocess.run(
        [*openkms_cmd("client", "--store", str(client.directory), "rearm")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    code, findings = doctor_json("client", "--store", str(client.directory))
    assert code == 1  # a warning: the grace period runs again
    cause = one(findings, "mak-not-activated")
    assert cause["severity"] == "warning" and cause["procedure"] == "key"
    assert "no activation attempt recorded" not in cause["evidence"]
    assert "a rearm on " in cause["evidence"] and "reset the activation" in cause["evidence"]
    assert "restarted the grace period" in cause["evidence"]
    assert "the last successful activation was on 20" in cause["evidence"]
    assert "new CMID" in cause["meaning"] and "activated again" in cause["meaning"]
    assert "'client ato'" in cause["fix"] and "'client dti'" in cause["fix"]
    status = one(findings, "license-status")
    assert status["procedure"] == "mak-client" and "Initial grace period" in status["evidence"]
    assert "2 rearm(s) left of 3" in one(findings, "rearms-left")["evidence"]
    no_kms(findings)


def test_a_rearmed_mak_activated_again_is_healthy(mak_site: MakSite) -> None:
    client = mak_site.client("rearmed-again")
    assert client.activate().activated
    client.rearm()
    assert client.activate().activated
    code, findings = doctor_json("client", "--store", str(client.directory))
    assert code == 0, findings
    assert "mak-not-activated" not in {f["check"] for f in findings}
    assert one(findings, "last-result")["severity"] == "ok"
