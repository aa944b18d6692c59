"""The scenario matrix: faults set up on real OpenKMS hosts and clients on loopback, and the
most likely cause ``openkms doctor host|client|events|port|dns`` names for each.

Every scenario runs real ``openkms host serve`` processes and real clients over TCP; clones
connect from their own loopback addresses (127.0.0.x). Time-dependent scenarios (expiry,
the count about to fall, a client clock hours off) run the doctor or the client under
``faketime`` or with a moved client clock. The MAK scenario waits for the publisher's MAK.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bindserver import Bind

from doctor.sitetools import (
    BoundTransport,
    activate_clients,
    by_check,
    client_of,
    doctor_json,
    export_events,
    top_in_process,
    top_of,
)
from doctor.sitetools import one as one_finding
from doctor.test_doctor_dns_bind import ZONE, _update
from openkms.client.api import Client
from openkms.core.codes import ResultCode
from openkms.host.state import HostState

from helpers import Site, host_process, make_site

pytestmark = pytest.mark.e2e

_DAY = 86400


def _second_host(site: Site, root: Path) -> Path:
    """Another activated host of the same publisher and license group."""
    state = HostState(root)
    state.install_key(str(site.publisher.issue_host_key("C")), site.publisher.trust())
    request = state.activation_request("kms02", int(time.time()))
    state.install_certificate(site.publisher.activate_host(request), int(time.time()))
    state.update_settings(dns_publishing=False)
    return root


def test_host_not_activated(tmp_path: Path) -> None:
    site = make_site(tmp_path, activate=False)
    with host_process(site.host_dir) as host:
        outcomes = activate_clients(site, tmp_path / "c", "Standard", host.address, 2)
        assert outcomes[0][1].result is ResultCode.HOST_NOT_ACTIVATED
        top = top_of("host", "--store", str(site.host_dir), "--address", host.address)
        assert (top["check"], top["code"]) == ("host-activated", "0xC004F041")
        client = top_of("client", "--store", str(outcomes[0][0].directory))
        assert client["code"] == "0xC004F041"
    log = export_events(site.host_dir, tmp_path / "host.json")
    assert top_of("events", str(log))["code"] == "0xC004F041"


def test_count_below_25(tmp_path: Path) -> None:
    site = make_site(tmp_path, group="A")
    with host_process(site.host_dir) as host:
        outcomes = activate_clients(site, tmp_path / "d", "Desktop Standard", host.address, 3)
        assert outcomes[-1][1].result is ResultCode.COUNT_TOO_LOW
        top = top_of("host", "--store", str(site.host_dir), "--address", host.address)
        assert (top["check"], top["code"]) == ("count-vs-n-policy", "0xC004F038")
        assert "< N-policy 25" in top["evidence"]
        client = outcomes[-1][0]
        assert top_of("client", "--store", str(client.directory))["code"] == "0xC004F038"
    log = export_events(client.directory, tmp_path / "client.json", "client")
    assert top_of("events", str(log))["check"] == "count-below-n-policy"


def _clones(site: Site, root: Path, address: str, count: int) -> list[Client]:
    """``count`` copies of one image (one CMID, one name), each from its own address."""
    image = client_of(site, root / "image", "Standard", address, "pc-img")
    clones = []
    for index in range(count):
        directory = root / f"clone{index}"
        shutil.copytree(image.directory, directory)
        transport = BoundTransport(f"127.0.0.{index + 2}")
        clones.append(Client.open(directory, machine_name="pc-img", transport=transport))
    return clones


def test_clones_interleaved_from_several_addresses(site: Site, tmp_path: Path) -> None:
    with host_process(site.host_dir) as host:
        activate_clients(site, tmp_path / "other", "Standard", host.address, 2)
        clones = _clones(site, tmp_path, host.address, 3)
        for _ in range(2):
            for clone in clones:  # a, b, c, a, b, c: minutes (here seconds) apart
                clone.activate()
        top = top_of("host", "--store", str(site.host_dir), "--address", host.address)
        assert top["check"] == "cmid-clones-one-name" and "pc-img" in top["evidence"]
    log = export_events(site.host_dir, tmp_path / "host.json")
    assert top_of("events", str(log))["check"] == "cmid-clones-one-name"


def test_clones_count_stuck_at_1(site: Site, tmp_path: Path) -> None:
    with host_process(site.host_dir) as host:
        for clone in _clones(site, tmp_path, host.address, 10):
            assert clone.activate().result is ResultCode.COUNT_TOO_LOW
        top = top_of("host", "--store", str(site.host_dir), "--address", host.address)
    assert top["check"] == "count-stuck-at-1" and "10 request(s)" in top["evidence"]


def test_product_outside_the_host_group(tmp_path: Path) -> None:
    site = make_site(tmp_path, group="A")
    with host_process(site.host_dir) as host:
        outcomes = activate_clients(site, tmp_path / "x", "Datacenter", host.address, 2, "dc")
        assert outcomes[0][1].result is ResultCode.PRODUCT_NOT_COVERED
        top = top_of("host", "--store", str(site.host_dir), "--address", host.address)
        assert (top["check"], top["code"]) == ("failed-requests-why", "0xC004F042")
        client = top_of("client", "--store", str(outcomes[0][0].directory))
        assert client["code"] == "0xC004F042"


def test_clock_skew(site: Site, tmp_path: Path) -> None:
    with host_process(site.host_dir) as host:
        ahead = Client.open(
            tmp_path / "c", machine_name="pc-fast", clock=lambda: time.time() + 5 * 3600
        )
        ahead.install_key(site.product("Standard").setup_key, site.publisher.trust())
        ahead.set_kms(host.address)
        assert ahead.activate().result is ResultCode.CLOCK_SKEW
        top = top_of("host", "--store", str(site.host_dir), "--address", host.address)
        assert top["code"] == "0xC004F06C" and top["procedure"] == "clock"
        client = top_in_process("client", "--store", str(ahead.directory), faketime="+5h")
        assert (client["check"], client["code"]) == ("clock-skew", "0xC004F06C")
    log = export_events(ahead.directory, tmp_path / "client.json", "client")
    assert top_of("events", str(log))["code"] == "0xC004F06C"


def test_host_down(site: Site, tmp_path: Path) -> None:
    with host_process(site.host_dir) as host:
        client, outcome = activate_clients(site, tmp_path, "Standard", host.address, 5)[-1]
        assert outcome.activated
        address = host.address
    assert client.activate().result is ResultCode.NO_KMS_HOST_CONTACTED
    top = top_of("client", "--store", str(client.directory), "--timeout", "1")
    assert top["code"] == "0x8007274D"
    assert top_of("port", address, "--timeout", "1")["code"] == "0x8007274D"
    top = top_of("host", "--store", str(site.host_dir), "--address", address, "--timeout", "1")
    assert (top["check"], top["code"]) == ("host-listening", "0x8007274D")


@pytest.fixture
def two_hosts(site: Site, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two running hosts of one publisher: (address 1, address 2)."""
    HostState(site.host_dir).update_settings(dns_publishing=False)
    second = _second_host(site, tmp_path / "host2")
    with host_process(site.host_dir) as one, host_process(second) as two:
        yield one.address, two.address


def test_two_hosts_split_the_count_events(
    site: Site, tmp_path: Path, two_hosts: tuple[str, str]
) -> None:
    first = activate_clients(site, tmp_path / "a", "Standard", two_hosts[0], 3, "pa")
    second = activate_clients(site, tmp_path / "b", "Standard", two_hosts[1], 3, "pb")
    assert all(o.result is ResultCode.COUNT_TOO_LOW for _, o in first + second)
    logs = [
        str(export_events(c.directory, tmp_path / f"{c.machine_name}.json", "client"))
        for c, _ in first + second
    ]
    top = top_of("events", *logs)
    assert top["check"] == "several-kms-hosts"
    assert two_hosts[0] in top["evidence"] and two_hosts[1] in top["evidence"]


def test_two_hosts_split_the_count_dns(doctor_bind: Bind, two_hosts: tuple[str, str]) -> None:
    records = [("kms", 600, "A", "127.0.0.1")] + [
        ("_openkms._tcp", 900, "SRV", f"0 0 {address.rsplit(':', 1)[1]} kms.{ZONE}.")
        for address in two_hosts
    ]
    _update(doctor_bind, ZONE, *records)
    try:
        top = top_of("dns", ZONE, "--dns-server", doctor_bind.address, "--search-domain", ZONE)
    finally:
        _update(doctor_bind, ZONE, *records, delete=True)
    assert top["check"] == "several-hosts" and "2 hosts" in top["evidence"]


def test_two_hosts_sharing_one_database_share_the_count_dns(
    doctor_bind: Bind, site: Site, tmp_path: Path, pg_dsn: str
) -> None:
    HostState(site.host_dir).update_settings(dns_publishing=False)
    second = _second_host(site, tmp_path / "host2")
    shared = ("--database", pg_dsn)
    with host_process(site.host_dir, *shared) as one, host_process(second, *shared) as two:
        activate_clients(site, tmp_path / "a", "Standard", one.address, 2, "pa")
        activate_clients(site, tmp_path / "b", "Standard", two.address, 2, "pb")
        records = [("kms", 600, "A", "127.0.0.1")] + [
            ("_openkms._tcp", 900, "SRV", f"0 0 {host.port} kms.{ZONE}.") for host in (one, two)
        ]
        dns_args = ("dns", ZONE, "--dns-server", doctor_bind.address, "--search-domain", ZONE)
        _update(doctor_bind, ZONE, *records)
        try:
            code, findings = doctor_json(*dns_args, "--store", str(site.host_dir), *shared)
            without_store = top_of(*dns_args)
        finally:
            _update(doctor_bind, ZONE, *records, delete=True)
    found = one_finding(findings, "hosts-share-count")
    assert (
        found["severity"] == "ok" and "2 hosts share one count (shared store)" in found["evidence"]
    )
    assert by_check(findings, "several-hosts") == [] and code == 0
    assert without_store["check"] == "several-hosts"  # no store to read: it may be split


def test_client_activation_expiring_soon(site: Site, tmp_path: Path) -> None:
    with host_process(site.host_dir) as host:
        ((client, outcome),) = activate_clients(site, tmp_path, "Standard", host.address, 1)
        assert outcome.result is ResultCode.COUNT_TOO_LOW
        activate_clients(site, tmp_path / "more", "Standard", host.address, 4)
        assert client.activate().activated
    # 175 days later, the host long gone: 5 days of activation left
    top = top_in_process(
        "client", "--store", str(client.directory), "--timeout", "1", faketime="+175d"
    )
    assert top["check"] == "expiry-soon"


def test_host_count_about_to_fall_below_n(site: Site, tmp_path: Path) -> None:
    with host_process(site.host_dir) as host:
        activate_clients(site, tmp_path, "Standard", host.address, 6)
        address = host.address
        # 25 days later no client has renewed: the count falls below 5 in 5 days
        top = top_in_process(
            "host", "--store", str(site.host_dir), "--address", address, faketime="+25d"
        )
    assert top["check"] == "count-falls-below-n" and "5 day(s)" in top["evidence"]
