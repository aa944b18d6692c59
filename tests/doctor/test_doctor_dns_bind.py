"""``doctor dns`` against a real BIND9: records, targets, ports, several hosts, search list."""

from __future__ import annotations

from collections.abc import Iterator

import dns.query
import dns.rcode
import dns.tsig
import dns.tsigkeyring
import dns.update
import pytest
from bindserver import KEY_NAME, Bind

from doctor.sitetools import by_check, doctor, doctor_json, one

from helpers import Site, host_process

pytestmark = pytest.mark.e2e

ZONE = "openkms.test"


def _update(bind: Bind, zone: str, *lines: tuple[str, int, str, str], delete: bool = False) -> None:
    keyring = dns.tsigkeyring.from_text({KEY_NAME: bind.key.secret})
    update = dns.update.UpdateMessage(
        zone, keyring=keyring, keyname=KEY_NAME, keyalgorithm=dns.tsig.HMAC_SHA256
    )
    for name, ttl, rdtype, data in lines:
        if delete:
            update.delete(name, rdtype)
        else:
            update.add(name, ttl, rdtype, data)
    response = dns.query.tcp(update, "127.0.0.1", port=bind.port, timeout=5)
    assert response.rcode() == dns.rcode.NOERROR


@pytest.fixture
def published(doctor_bind: Bind, site: Site) -> Iterator[int]:
    """Two OpenKMS SRV records in openkms.test: a running host and a stale target."""
    with host_process(site.host_dir) as host:
        records = (
            ("kms01", 600, "A", "127.0.0.1"),
            ("_openkms._tcp", 900, "SRV", f"0 0 {host.port} kms01.{ZONE}."),
            ("_openkms._tcp", 900, "SRV", f"0 0 1688 retired.{ZONE}."),
        )
        _update(doctor_bind, ZONE, *records)
        try:
            yield host.port
        finally:
            _update(doctor_bind, ZONE, *records, delete=True)


def test_records_targets_and_ports(doctor_bind: Bind, published: int) -> None:
    code, findings = doctor_json(
        "dns", ZONE, "--dns-server", doctor_bind.address, "--search-domain", ZONE,
        "--timeout", "2",
    )  # fmt: skip
    assert code == 2
    srv = [f for f in by_check(findings, "srv-records") if "_openkms" in f["evidence"]]
    assert len(srv) == 1 and "TTL 900 s" in srv[0]["evidence"]
    assert f"0 0 {published} kms01.{ZONE}" in srv[0]["evidence"]
    several = one(findings, "several-hosts")
    assert several["severity"] == "warning" and "2 hosts" in several["evidence"]
    targets = by_check(findings, "srv-target")
    assert {f["severity"] for f in targets} == {"ok", "error"}
    stale = next(f for f in targets if f["severity"] == "error")
    assert f"retired.{ZONE}" in stale["evidence"] and "stale" in stale["meaning"]
    answer = one(findings, "openkms-host")
    assert f"listening on port {published}" in answer["evidence"]
    windows = [f for f in by_check(findings, "srv-records") if "_vlmcs" in f["evidence"]]
    assert windows[0]["severity"] == "ok" and "0x8007232B" in windows[0]["evidence"]
    assert one(findings, "dns-search-list")["severity"] == "ok"


def test_windows_kms_record_and_a_closed_port(doctor_bind: Bind) -> None:
    records = (
        ("winkms", 300, "A", "127.0.0.1"),
        ("_vlmcs._tcp", 3600, "SRV", f"0 0 9 winkms.{ZONE}."),
    )
    _update(doctor_bind, ZONE, *records)
    try:
        code, findings = doctor_json(
            "dns", ZONE, "--dns-server", doctor_bind.address, "--search-domain", "corp.example",
            "--timeout", "1",
        )  # fmt: skip
    finally:
        _update(doctor_bind, ZONE, *records, delete=True)
    windows = [f for f in by_check(findings, "srv-records") if "_vlmcs" in f["evidence"]]
    assert "TTL 3600 s" in windows[0]["evidence"]
    refused = one(findings, "tcp-connect")
    assert refused["code"] == "0x8007274D"
    openkms = [f for f in by_check(findings, "srv-records") if "_openkms" in f["evidence"]]
    assert openkms[0]["severity"] == "error" and openkms[0]["code"] == "0x8007232B"
    search = one(findings, "dns-search-list")
    assert search["severity"] == "warning" and f"skms-domain {ZONE}" in search["fix"]
    assert code == 2


def test_dns_server_down_is_a_finding_not_a_hang() -> None:
    code, findings = doctor_json(
        "dns", ZONE, "--dns-server", "127.0.0.1:9", "--search-domain", ZONE, "--timeout", "0.3"
    )
    assert code == 2
    assert all(f["severity"] == "error" for f in by_check(findings, "srv-records"))


def test_bad_dns_server_argument() -> None:
    code, _ = doctor_json_error("dns", ZONE, "--dns-server", "not-an-ip")
    assert code == 2


def doctor_json_error(*args: str) -> tuple[int, str]:
    code, out, err = doctor(*args)
    assert "Traceback" not in out + err
    return code, err
