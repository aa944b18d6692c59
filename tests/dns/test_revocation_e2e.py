"""Revocation end to end: real hosts, a real BIND9, real clients, a publisher service.

A revoked host refuses (0xC004C003 in its answer, its dli and event 12330) and its clients
renew with the other host of the SRV set; the list they get on the way makes them refuse a
ticket from a revoked host that does not know it is revoked; a newer catalog reaches a client
through its host; a host started with --publisher-url fetches the list itself.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bindserver import Bind

from openkms.client.api import Client
from openkms.client.state import load_state
from openkms.core.codes import ResultCode
from openkms.dns.srv import DnsLocator
from openkms.host.state import HostState
from openkms.publisher.revocations import REVOCATIONS_FILE, revoke_host
from pubservice import publisher_service, set_publisher_url

from helpers import HostProcess, Site, host_process, openkms_cmd

pytestmark = pytest.mark.e2e

SERVICE = "_rv._tcp"
READY_TIMEOUT = 20.0


def wait_for(predicate: Callable[[], object], timeout: float = 20.0, what: str = "") -> None:
    """Poll ``predicate`` until it is true (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what or predicate}")
        time.sleep(0.05)


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the openkms CLI."""
    result = subprocess.run(openkms_cmd(*args), capture_output=True, text=True, timeout=60)
    assert "Traceback" not in result.stderr
    if check and result.returncode != 0:
        raise AssertionError(f"{args}: {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def another_host(site: Site, directory: Path) -> Path:
    """Another activated host of the same publisher (its own host key)."""
    state = HostState(directory)
    state.install_key(str(site.publisher.issue_host_key("C")), site.publisher.trust())
    request = state.activation_request(directory.name, int(time.time()))
    state.install_certificate(site.publisher.activate_host(request), int(time.time()))
    return directory


def configure(bind: Bind, host_dir: Path, target: str, priority: str) -> None:
    """Publish ``host_dir``'s host in the test BIND under the test service."""
    options = ("--server", bind.address, "--tsig-key-file", str(bind.key_file))
    options += ("--timeout", "2", "--domain", "openkms.test", "--service", SERVICE)
    options += ("--publish-addresses", "--target", target, "--priority", priority)
    cli("host", "--store", str(host_dir), "dns-config", *options)


def dns_client(site: Site, directory: Path, bind: Bind, name: str) -> Client:
    """A client with the Standard setup key that discovers through the test BIND."""
    locator = DnsLocator(nameservers=[bind.server], search_domains=["openkms.test"], timeout=2.0)
    client = Client.open(directory, machine_name=name, locator=locator, service=SERVICE)
    client.install_key(site.product("Standard").setup_key, site.publisher.trust())
    return client


def reach_threshold(site: Site, root: Path, bind: Bind, host: HostProcess, n: int) -> None:
    """``n`` clients set on ``host`` by hand, so that its count reaches ``n``."""
    for i in range(n):
        client = dns_client(site, root / f"{host.port}-{i}", bind, f"m{host.port}-{i}")
        client.set_kms(host.address)
        client.activate()


def host_events(host_dir: Path, event_id: int) -> list[str]:
    """The Info strings of the host's events of one ID, through ``host events``."""
    out = cli("host", "--store", str(host_dir), "events", "--id", str(event_id), "--format", "json")
    return [e["info"] for e in json.loads(out.stdout)]


@pytest.fixture
def served() -> Iterator[Callable[..., HostProcess]]:
    """Start hosts; all stopped at the end."""
    stack: list[object] = []

    def start(host_dir: Path, *extra: str, dns: bool = True) -> HostProcess:
        manager = host_process(host_dir, *extra, dns=dns)
        stack.append(manager)
        return manager.__enter__()

    yield start
    for manager in reversed(stack):
        manager.__exit__(None, None, None)  # type: ignore[attr-defined]


def test_a_revoked_host_refuses_and_its_clients_renew_elsewhere(
    site: Site, bind: Bind, tmp_path: Path, served: Callable[..., HostProcess]
) -> None:
    host_b_dir = another_host(site, tmp_path / "host-b")
    configure(bind, site.host_dir, "kms-a.openkms.test", "0")
    configure(bind, host_b_dir, "kms-b.openkms.test", "10")
    host_a, host_b = served(site.host_dir), served(host_b_dir)
    wait_for(lambda: len(bind.query(f"{SERVICE}.openkms.test")) == 2, what="both SRV records")
    n = site.product("Standard").n_policy
    reach_threshold(site, tmp_path, bind, host_a, n)
    reach_threshold(site, tmp_path, bind, host_b, n)
    client = dns_client(site, tmp_path / "client", bind, "client")
    first = client.activate()
    assert first.activated and first.host == f"kms-a.openkms.test:{host_a.port}", first.message

    # The publisher revokes host A; A's operator installs the list while A serves.
    revoke_host(site.publisher, HostState(site.host_dir).fingerprint, "decommissioned")
    listed = site.publisher.directory / REVOCATIONS_FILE
    cli("host", "--store", str(site.host_dir), "install-revocations", str(listed))
    wait_for(lambda: "refusing activations" in host_a.log(), what="host A refusing")
    assert "0xC004C003" in host_events(site.host_dir, 12330)[0]
    dli = cli("host", "--store", str(site.host_dir), "dli").stdout
    assert "Certificate revoked by the publisher on " in dli

    # The client stays Licensed until it renews, then renews with B.
    assert client.license().licensed
    renewed = client.activate()
    assert renewed.activated and renewed.host == f"kms-b.openkms.test:{host_b.port}"
    assert [t.result for t in renewed.tried] == [ResultCode.KEY_BLOCKED, ResultCode.OK]
    assert load_state(client.directory).revocations is not None  # A passed the list on

    # A client that knows only host A cannot renew, and dli says why.
    only_a = tmp_path / "only-a"
    trust = str(site.publisher.directory / "trust.json")
    cli(
        "client",
        "--store",
        str(only_a),
        "ipk",
        site.product("Standard").setup_key,
        "--trust",
        trust,
    )
    cli("client", "--store", str(only_a), "skms", host_a.address)
    failed = cli("client", "--store", str(only_a), "ato", check=False)
    assert failed.returncode != 0 and "0xC004C003" in failed.stdout + failed.stderr
    client_dli = cli("client", "--store", str(only_a), "dli").stdout
    assert "Last activation attempt: 0xC004C003" in client_dli

    # A revoked host that does not know it (no list installed): a client holding the list
    # refuses its ticket.
    host_c_dir = another_host(site, tmp_path / "host-c")
    revoke_host(site.publisher, HostState(host_c_dir).fingerprint)
    cli("host", "--store", str(host_b_dir), "install-revocations", str(listed))
    wait_for(lambda: "revocation list 2" in host_b.log(), what="host B taking list 2")
    assert client.activate().activated  # list 2 reaches the client through B
    host_c = served(host_c_dir, dns=False)
    reach_threshold(site, tmp_path, bind, host_c, n)
    client.set_kms(host_c.address)
    refused = client.activate()
    assert refused.result is ResultCode.KEY_BLOCKED, refused.message
    assert client.license().licensed  # the ticket from B is kept
    for host in (host_a, host_b, host_c):
        assert "Traceback" not in host.log()


def test_a_newer_catalog_reaches_a_client_through_its_host(
    site: Site, tmp_path: Path, served: Callable[..., HostProcess]
) -> None:
    host = served(site.host_dir, dns=False)
    client = Client.open(tmp_path / "client", machine_name="c")
    client.install_key(site.product("Standard").setup_key, site.publisher.trust())
    client.set_kms(host.address)
    client.activate()
    assert client.trust() is not None and client.trust().catalog.serial == 1  # type: ignore[union-attr]

    site.publisher.sign_catalog()  # serial 2
    cli(
        "host",
        "--store",
        str(site.host_dir),
        "install-trust",
        str(site.publisher.directory / "trust.json"),
    )
    wait_for(lambda: "serving with catalog 2" in host.log(), what="the host taking catalog 2")
    client.activate()
    trust = client.trust()
    assert trust is not None and trust.catalog.serial == 2
    assert trust.to_json() == site.publisher.trust().to_json()


def test_a_rotated_root_reaches_a_client_pinned_to_the_old_key_through_its_host(
    site: Site, tmp_path: Path, served: Callable[..., HostProcess]
) -> None:
    old_key = site.publisher.trust().publisher_key_text
    host = served(site.host_dir, dns=False)
    client = Client.open(tmp_path / "client", machine_name="c")
    client.install_key(site.product("Standard").setup_key, site.publisher.trust())
    client.set_kms(host.address)
    client.activate()
    assert load_state(tmp_path / "client").publisher_key == old_key

    old_trust = tmp_path / "old-trust.json"
    old_trust.write_bytes(site.publisher.trust().to_json())
    cli("publisher", "rotate-root", str(site.publisher.directory))
    rotated = site.publisher.trust()
    assert rotated.publisher_key_text != old_key and rotated.rotations
    directory, trust_file = str(site.host_dir), str(site.publisher.directory / "trust.json")
    out = cli("host", "--store", directory, "install-trust", trust_file).stdout
    assert f"Installed catalog {rotated.catalog.serial}" in out
    wait_for(
        lambda: f"serving with catalog {rotated.catalog.serial}" in host.log(),
        what="the host taking the rotated trust",
    )
    # One client is below the threshold; the answer still carries the rotated catalog.
    assert client.activate().result is ResultCode.COUNT_TOO_LOW
    trust = client.trust()
    assert trust is not None and trust.to_json() == rotated.to_json()
    assert load_state(tmp_path / "client").publisher_key == rotated.publisher_key_text
    # The old document (signed by the retired key) never comes back on the host.
    refused = cli("host", "--store", directory, "install-trust", str(old_trust), check=False)
    assert refused.returncode != 0 and "0xE0040021" in refused.stdout + refused.stderr
    assert "Traceback" not in host.log()


@pytest.fixture
def service(site: Site) -> Iterator[str]:
    """The real publisher service (``openkms publisher serve``) over the site's publisher."""
    with publisher_service(site.publisher.directory) as running:
        yield running.url


def test_a_host_fetches_the_list_from_the_publisher_service(
    site: Site, served: Callable[..., HostProcess], service: str
) -> None:
    revoke_host(site.publisher, HostState(site.host_dir).fingerprint, "moved")
    host = served(site.host_dir, "--publisher-url", service, dns=False)
    wait_for(lambda: "refusing activations" in host.log(), what="the host refusing")
    assert "moved" in host_events(site.host_dir, 12330)[0]
    assert "Traceback" not in host.log()
    # The fetch command does the same by hand; the list is already there.
    out = cli(
        "host", "--store", str(site.host_dir), "fetch-updates", "--publisher-url", service
    ).stdout
    assert "revocation list 1 is already installed" in out


def test_without_publisher_url_a_host_fetches_from_its_catalogs_service(
    site: Site, served: Callable[..., HostProcess], service: str
) -> None:
    directory = str(site.host_dir)
    missing = cli("host", "--store", directory, "fetch-updates", check=False)
    assert missing.returncode != 0 and "--publisher-url" in missing.stdout + missing.stderr
    set_publisher_url(site.publisher.directory, service)  # the catalog now names the service
    trust = str(site.publisher.directory / "trust.json")
    cli("host", "--store", directory, "install-trust", trust)
    revoke_host(site.publisher, HostState(site.host_dir).fingerprint, "moved")
    host = served(site.host_dir, dns=False)  # no --publisher-url: the catalog's URL
    wait_for(lambda: "refusing activations" in host.log(), what="the host refusing")
    assert "moved" in host_events(site.host_dir, 12330)[0]
    out = cli("host", "--store", directory, "fetch-updates").stdout
    assert "revocation list 1 is already installed" in out


def test_the_publisher_service_down_is_a_clear_error(site: Site) -> None:
    result = cli(
        "host",
        "--store",
        str(site.host_dir),
        "fetch-updates",
        "--publisher-url",
        "http://127.0.0.1:9",
        check=False,
    )
    assert result.returncode != 0
    assert "0x800706BA" in result.stdout + result.stderr
    assert "install-revocations" in result.stdout + result.stderr
