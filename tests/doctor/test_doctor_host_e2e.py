"""``doctor host`` against real host stores and processes: healthy, unactivated, stopped,
count below N, refused products, cloned CMIDs, and stores that are not what they claim."""

from __future__ import annotations

import shutil
import socket
import sqlite3
from pathlib import Path

import pytest

from doctor.sitetools import activate_clients, by_check, client_of, doctor, doctor_json, one
from openkms.core.codes import ResultCode
from openkms.host.state import HostState

from helpers import Site, host_process, make_site

pytestmark = pytest.mark.e2e


def test_healthy_host_with_clients(site: Site, tmp_path: Path) -> None:
    HostState(site.host_dir).update_settings(dns_publishing=False)
    with host_process(site.host_dir) as host:
        outcomes = activate_clients(site, tmp_path / "c", "Standard", host.address, 6)
        assert outcomes[-1][1].activated
        code, findings = doctor_json(
            "host", "--store", str(site.host_dir), "--address", host.address
        )
    errors = [f for f in findings if f["severity"] == "error"]
    assert errors == []
    assert code == 1  # DNS publishing disabled is the one warning
    assert one(findings, "dns-publishing-disabled")["severity"] == "warning"
    assert one(findings, "host-key")["severity"] == "ok"
    assert "license group C" in one(findings, "host-activated")["evidence"]
    count = one(findings, "count-vs-n-policy")
    assert count["severity"] == "ok" and "current count 6 >= N-policy 5" in count["evidence"]
    assert "6 total, 0 failed" in one(findings, "failed-requests")["evidence"]
    assert one(findings, "openkms-host")["severity"] == "ok"
    assert "records 1..6" in one(findings, "events-read")["evidence"]


def test_host_works_while_stopped_and_says_how_to_start(site: Site, tmp_path: Path) -> None:
    with host_process(site.host_dir) as host:
        activate_clients(site, tmp_path / "c", "Standard", host.address, 2)
        address = host.address
    code, out, _ = doctor("host", "--store", str(site.host_dir), "--address", address)
    assert code == 2
    assert "[ERROR] host-listening 0x8007274D" in out
    assert f"openkms host --store {site.host_dir} serve" in out
    # the store is still read: count and events
    assert "current count 2 < N-policy 5 (server)" in out
    assert "records 1..2" in out


def test_unactivated_host(tmp_path: Path) -> None:
    site = make_site(tmp_path, activate=False)
    with host_process(site.host_dir) as host:
        outcomes = activate_clients(site, tmp_path / "c", "Standard", host.address, 2)
        assert all(o.result is ResultCode.HOST_NOT_ACTIVATED for _, o in outcomes)
        code, findings = doctor_json(
            "host", "--store", str(site.host_dir), "--address", host.address
        )
    assert code == 2
    activated = one(findings, "host-activated")
    assert activated["severity"] == "error" and activated["code"] == "0xC004F041"
    assert "no host certificate" in activated["evidence"]
    why = one(findings, "failed-requests-why")
    assert why["code"] == "0xC004F041" and why["severity"] == "error"
    assert "2 request(s) failed" in why["evidence"] and "pc0" in why["evidence"]
    assert "2 total, 2 failed (100%)" in one(findings, "failed-requests")["evidence"]


def test_count_below_desktop_n_and_refused_products(tmp_path: Path) -> None:
    site = make_site(tmp_path, group="A")  # covers Web and desktop editions, not Datacenter
    with host_process(site.host_dir) as host:
        activate_clients(site, tmp_path / "d", "Desktop Standard", host.address, 3, "desk")
        refused = activate_clients(site, tmp_path / "x", "Datacenter", host.address, 2, "dc")
        assert all(o.result is ResultCode.PRODUCT_NOT_COVERED for _, o in refused)
        code, findings = doctor_json(
            "host", "--store", str(site.host_dir), "--address", host.address
        )
    assert code == 2
    counts = {f["evidence"].split(":")[0]: f for f in by_check(findings, "count-vs-n-policy")}
    low = counts["current count 3 < N-policy 25 (desktop)"]
    assert low["severity"] == "error" and low["code"] == "0xC004F038"
    why = one(findings, "failed-requests-why")
    assert why["code"] == "0xC004F042" and "dc0" in why["evidence"]
    assert "PRODUCT_NOT_COVERED" in why["meaning"]


def test_cloned_cmid_is_found(site: Site, tmp_path: Path) -> None:
    with host_process(site.host_dir) as host:
        original = client_of(site, tmp_path / "a", "Standard", host.address, "pc-a")
        original.activate()
        clone_dir = tmp_path / "b"
        shutil.copytree(tmp_path / "a", clone_dir)
        client_of(site, clone_dir, "Standard", host.address, "pc-b").activate()
        code, findings = doctor_json(
            "host", "--store", str(site.host_dir), "--address", host.address
        )
    duplicate = one(findings, "duplicate-cmid")
    assert duplicate["severity"] == "error" and "pc-a, pc-b" in duplicate["evidence"]
    assert code == 2


def test_stores_that_are_not_what_they_claim(site: Site, tmp_path: Path) -> None:
    client_dir = tmp_path / "client"
    client_dir.mkdir()
    (client_dir / "client.json").write_text("{}")
    code, findings = doctor_json("host", "--store", str(client_dir))
    assert code == 2 and one(findings, "not-a-host-store")["procedure"] == "input"

    code, findings = doctor_json("host", "--store", str(tmp_path / "nowhere"))
    assert code == 2 and one(findings, "store-missing")["severity"] == "error"

    (site.host_dir / "host.db").write_bytes(b"this is not an sqlite database" * 100)
    code, findings = doctor_json("host", "--store", str(site.host_dir), "--timeout", "0.2")
    unreadable = one(findings, "store-unreadable")
    assert "not an OpenKMS store" in unreadable["evidence"] and code == 2

    (site.host_dir / "host.json").write_text("{not json")
    code, out, err = doctor("host", "--store", str(site.host_dir))
    assert code == 2 and "host-state-unreadable" in out and "corrupt" in out
    assert "Traceback" not in out + err


def test_never_started_host_and_nothing_written(site: Site) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    HostState(site.host_dir).update_settings(port=free)
    before = sorted(p.name for p in site.host_dir.iterdir())
    code, findings = doctor_json("host", "--store", str(site.host_dir), "--timeout", "0.2")
    assert sorted(p.name for p in site.host_dir.iterdir()) == before  # read-only
    assert one(findings, "store-missing")["severity"] == "warning"
    assert one(findings, "dns-publishing-status")["severity"] == "warning"
    assert one(findings, "host-listening")["code"] == "0x8007274D"
    assert code == 2


def test_empty_sqlite_file_is_a_finding(site: Site) -> None:
    sqlite3.connect(site.host_dir / "host.db").close()
    code, findings = doctor_json("host", "--store", str(site.host_dir), "--timeout", "0.2")
    assert code == 2
    assert any(f["procedure"] == "input" for f in findings)
