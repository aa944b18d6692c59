"""Real host processes publish in a real BIND9; real clients discover, fail over and cache."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bindserver import REFUSING, Bind

from openkms.client.api import AttemptOutcome, Client
from openkms.core.codes import ResultCode
from openkms.dns.publisher import read_status
from openkms.dns.srv import DnsLocator, DnsServer
from openkms.host.state import HostState
from openkms.store.base import EventQuery
from openkms.store.sqlite import SqliteReader

from helpers import HostProcess, Site, host_process, openkms_cmd

pytestmark = pytest.mark.e2e

CYCLE_HOURS = "0.0003"  # republish about every second
CYCLE = 1.08


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    """Poll ``predicate`` until it is true (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what or predicate}")
        time.sleep(0.05)


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the openkms CLI."""
    result = subprocess.run(openkms_cmd(*args), capture_output=True, text=True, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"{args}: {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def configure(bind: Bind, host_dir: Path, *args: str, key_file: Path | None = None) -> None:
    """``host dns-config`` pointing at the test BIND with its TSIG key."""
    key = str(key_file or bind.key_file)
    options = ("--server", bind.address, "--tsig-key-file", key, "--timeout", "2", *args)
    cli("host", "--store", str(host_dir), "dns-config", *options)


def second_host(site: Site, directory: Path) -> Path:
    """Another activated host of the same publisher."""
    state = HostState(directory)
    state.install_key(str(site.publisher.issue_host_key("C")), site.publisher.trust())
    request = state.activation_request("kms-b", int(time.time()))
    state.install_certificate(site.publisher.activate_host(request), int(time.time()))
    return directory


def make_client(
    site: Site, directory: Path, bind: Bind, service: str | None, name: str = "c"
) -> Client:
    """A client with the Standard setup key that discovers through the test BIND."""
    locator = DnsLocator(nameservers=[bind.server], search_domains=["openkms.test"], timeout=2.0)
    client = Client.open(directory, machine_name=name, locator=locator, service=service)
    client.install_key(site.product("Standard").setup_key, site.publisher.trust())
    return client


def activate_many(site: Site, root: Path, bind: Bind, service: str | None, n: int) -> list[Client]:
    """``n`` clients that each make one attempt (the n-th reaches a count of n)."""
    clients = [make_client(site, root / f"client{i}", bind, service, f"m{i}") for i in range(n)]
    for client in clients:
        client.activate()
    return clients


def publishing_stopped(host_dir: Path) -> bool:
    """True once the running host's publisher has seen ``cdns``."""
    status = read_status(host_dir)
    return status is not None and not status.enabled


def client_cmd(directory: Path, bind: Bind, *args: str, timeout: str = "2") -> list[str]:
    """The client CLI with the test BIND as its DNS server."""
    return [
        "client",
        "--store",
        str(directory),
        "--dns-server",
        bind.address,
        "--dns-timeout",
        timeout,
        "--search-domain",
        "openkms.test",
        *args,
    ]


def events(host_dir: Path, event_id: int) -> list[str]:
    """The Info strings of the host's events of one ID (read while the host runs)."""
    if not (host_dir / "host.db").exists():
        return []
    with SqliteReader(host_dir / "host.db") as reader:
        return [e.info for e in reader.events(EventQuery(event_ids=(event_id,)))]


def cli_events(host_dir: Path, event_id: int) -> list[str]:
    """The same through ``host events --format json``."""
    out = cli("host", "--store", str(host_dir), "events", "--id", str(event_id), "--format", "json")
    return [e["info"] for e in json.loads(out.stdout)]


@pytest.fixture
def served(site: Site) -> Iterator[Callable[..., HostProcess]]:
    """Start DNS-publishing hosts; all stopped at the end."""
    stack: list[object] = []

    def start(host_dir: Path, **kw: object) -> HostProcess:
        manager = host_process(host_dir, dns=True, **kw)  # type: ignore[arg-type]
        stack.append(manager)
        return manager.__enter__()

    yield start
    for manager in reversed(stack):
        manager.__exit__(None, None, None)  # type: ignore[attr-defined]


def test_host_publishes_client_discovers_and_activates(
    site: Site, bind: Bind, tmp_path: Path, served: Callable[..., HostProcess]
) -> None:
    target = ("--target", "kms1.openkms.test", "--publish-addresses")
    configure(bind, site.host_dir, "--domain", "openkms.test", *target)
    host = served(site.host_dir)
    name = "_openkms._tcp.openkms.test"  # the catalog's service, not Microsoft's _vlmcs
    wait_for(lambda: bind.query(name), what="the SRV record")
    assert bind.query(name) == [f"0 0 {host.port} kms1.openkms.test."]
    assert bind.query("kms1.openkms.test", "A") == ["127.0.0.1"]
    assert bind.query("_vlmcs._tcp.openkms.test") == []

    activate_many(site, tmp_path, bind, None, 4)
    last = tmp_path / "client-cli"
    trust = str(site.publisher.directory / "trust.json")
    cli("client", "--store", str(last), "ipk", site.product("Standard").setup_key, "--trust", trust)
    result = cli(*client_cmd(last, bind, "ato"))
    assert "Product activated successfully (current count 5" in result.stdout
    dli = cli(*client_cmd(last, bind, "dli")).stdout
    assert f"KMS machine name from DNS: kms1.openkms.test:{host.port}" in dli
    assert "KMS machine IP address: 127.0.0.1" in dli

    host_dli = cli("host", "--store", str(site.host_dir), "dli").stdout
    assert "openkms.test: published" in host_dli
    assert cli_events(site.host_dir, 12294)[0] == "openkms.test"
    assert "Traceback" not in host.log()


def test_failover_to_the_other_host_and_priority(
    site: Site, bind: Bind, tmp_path: Path, served: Callable[..., HostProcess]
) -> None:
    service = "_fo._tcp"
    host_b_dir = second_host(site, tmp_path / "host-b")
    common = ("--domain", "openkms.test", "--service", service, "--publish-addresses")
    configure(bind, site.host_dir, *common, "--target", "kms-a.openkms.test", "--priority", "0")
    configure(bind, host_b_dir, *common, "--target", "kms-b.openkms.test", "--priority", "10")
    host_a = served(site.host_dir)
    host_b = served(host_b_dir)
    wait_for(lambda: len(bind.query(f"{service}.openkms.test")) == 2, what="both records")
    # Host B reaches the threshold with clients set on it by hand.
    for i in range(5):
        client = make_client(site, tmp_path / f"b{i}", bind, service, f"b{i}")
        client.set_kms(host_b.address)
        client.activate()

    first = make_client(site, tmp_path / "d0", bind, service, "d0").activate()
    assert first.host == f"kms-a.openkms.test:{host_a.port}"  # priority 0 is tried first
    assert first.result is ResultCode.COUNT_TOO_LOW

    host_a.stop()
    fresh = make_client(site, tmp_path / "d1", bind, service, "d1")
    outcome = fresh.activate()
    assert outcome.activated, outcome.message
    assert outcome.host == f"kms-b.openkms.test:{host_b.port}"
    assert [(t.address.split(":")[0], t.result) for t in outcome.tried] == [
        ("kms-a.openkms.test", ResultCode.CONNECTION_REFUSED),
        ("kms-b.openkms.test", ResultCode.OK),
    ]
    logged = [
        (e.event_id, e.fields()["server"]) for e in fresh.events.read() if e.event_id == 12288
    ]
    assert [server.split(":")[0] for _, server in logged] == [
        "kms-a.openkms.test",
        "kms-b.openkms.test",
    ]


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("refused", ResultCode.DNS_UPDATE_REFUSED),
        ("bad-signature", ResultCode.DNS_BAD_SIGNATURE),
        ("server-down", ResultCode.TIMEOUT),
    ],
)
def test_publish_failure_logs_12293_keeps_serving_and_retries(
    site: Site,
    bind: Bind,
    tmp_path: Path,
    served: Callable[..., HostProcess],
    case: str,
    code: ResultCode,
) -> None:
    domain = REFUSING if case == "refused" else "openkms.test"
    wrong_key = tmp_path / "wrong.key"
    wrong_key.write_text(bind.key_file.read_text().replace('secret "', 'secret "AAAA'))
    key_file = wrong_key if case == "bad-signature" else None
    options = ("--domain", domain, "--service", f"_{case}._tcp")
    configure(bind, site.host_dir, *options, "--republish-hours", CYCLE_HOURS, key_file=key_file)
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    with silent:
        if case == "server-down":
            server = f"127.0.0.1:{silent.getsockname()[1]}"
            down = ("--server", server, "--timeout", "0.3")
            cli("host", "--store", str(site.host_dir), "dns-config", *down)
        host = served(site.host_dir)
        wait_for(lambda: len(events(site.host_dir, 12293)) >= 2, what="a retried 12293")
    assert events(site.host_dir, 12293)[0] == f"{code.hex},{domain}"
    host_dli = cli("host", "--store", str(site.host_dir), "dli").stdout
    assert f"{domain}: failed {code.hex}" in host_dli
    # The host still serves: a client set by hand gets an answer (count 1 of 5).
    client = make_client(site, tmp_path / "probe", bind, None)
    client.set_kms(host.address)
    assert client.activate().result is ResultCode.COUNT_TOO_LOW
    if case == "bad-signature":
        # Fixed while running: the next cycle publishes, no restart needed.
        cli(
            "host",
            "--store",
            str(site.host_dir),
            "dns-config",
            "--tsig-key-file",
            str(bind.key_file),
        )
        wait_for(lambda: events(site.host_dir, 12294), what="12294 after the fix")
    assert host.process.poll() is None
    assert "Traceback" not in host.log()


def test_publish_list_cdns_and_unpublish(
    site: Site, bind: Bind, served: Callable[..., HostProcess]
) -> None:
    service = "_pl._tcp"
    configure(
        bind, site.host_dir, "--domain", "openkms.test", "--service", service,
        "--target", "kms-pl.openkms.test",
        "--publish-list", "branch.test, 5, 10", "--republish-hours", CYCLE_HOURS,
    )  # fmt: skip
    host = served(site.host_dir)
    wait_for(lambda: bind.query(f"{service}.branch.test"), what="the branch.test record")
    assert bind.query(f"{service}.openkms.test") == [f"0 0 {host.port} kms-pl.openkms.test."]
    assert bind.query(f"{service}.branch.test") == [f"5 10 {host.port} kms-pl.openkms.test."]
    wait_for(lambda: len(events(site.host_dir, 12294)) >= 4, what="a second cycle")

    cli("host", "--store", str(site.host_dir), "cdns")
    wait_for(lambda: publishing_stopped(site.host_dir), what="the host to see cdns")
    before = len(events(site.host_dir, 12294))
    time.sleep(2.5 * CYCLE)
    assert len(events(site.host_dir, 12294)) == before  # no further updates
    assert bind.query(f"{service}.branch.test")  # and nothing removed

    result = cli("host", "--store", str(site.host_dir), "unpublish")
    assert "openkms.test: 0x00000000 removed" in result.stdout
    assert bind.query(f"{service}.openkms.test") == []
    assert bind.query(f"{service}.branch.test") == []
    time.sleep(2 * CYCLE)
    assert bind.query(f"{service}.openkms.test") == []  # cdns: not published again

    cli("host", "--store", str(site.host_dir), "sdns")
    wait_for(lambda: bind.query(f"{service}.openkms.test"), what="republished after sdns")


def test_client_caches_the_host_and_ckms_rediscovers(
    site: Site, bind: Bind, tmp_path: Path, served: Callable[..., HostProcess]
) -> None:
    service = "_ca._tcp"
    configure(
        bind, site.host_dir, "--domain", "openkms.test", "--service", service,
        "--target", "kms-ca.openkms.test", "--publish-addresses",
        "--republish-hours", CYCLE_HOURS,
    )  # fmt: skip
    host = served(site.host_dir)
    wait_for(lambda: bind.query(f"{service}.openkms.test"), what="the SRV record")
    clients = activate_many(site, tmp_path, bind, service, 5)
    renewing = clients[-1]
    assert renewing.license().licensed
    assert renewing.state().cached_host == f"kms-ca.openkms.test:{host.port}"

    cli("host", "--store", str(site.host_dir), "cdns")
    wait_for(lambda: publishing_stopped(site.host_dir), what="the host to see cdns")
    cli("host", "--store", str(site.host_dir), "unpublish")
    assert bind.query(f"{service}.openkms.test") == []
    renewed = renewing.activate()
    assert renewed.activated, renewed.message
    assert renewed.tried[0].source == "cache"

    base = client_cmd(renewing.directory, bind, "--service", service)
    cli(*base, "ckms")
    assert renewing.state().cached_host is None
    lost = cli(*base, "ato", check=False)
    assert lost.returncode != 0
    assert ResultCode.DNS_NAME_DOES_NOT_EXIST.hex in lost.stderr

    cli("host", "--store", str(site.host_dir), "sdns")
    wait_for(lambda: bind.query(f"{service}.openkms.test"), timeout=15, what="republished")
    found = renewing.activate()
    assert found.activated and found.tried[-1].source == "dns"


def test_dns_server_down_gives_a_clear_error_quickly(
    site: Site, bind: Bind, tmp_path: Path
) -> None:
    directory = tmp_path / "client"
    make_client(site, directory, bind, "_down._tcp")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        result = cli(
            "client", "--store", str(directory), "--dns-server", dead, "--dns-timeout", "0.5",
            "--search-domain", "openkms.test", "--service", "_down._tcp", "ato", check=False,
        )  # fmt: skip
        elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert ResultCode.NO_KMS_HOST_CONTACTED.hex in result.stderr
    assert "did not answer" in result.stderr or "answered" in result.stderr
    assert elapsed < 8
    missing = cli(*client_cmd(directory, bind, "--service", "_down._tcp", "ato"), check=False)
    assert ResultCode.DNS_NAME_DOES_NOT_EXIST.hex in missing.stderr


def test_ipv6_target(
    site: Site, bind: Bind, tmp_path: Path, served: Callable[..., HostProcess]
) -> None:
    service = "_v6._tcp"
    configure(
        bind, site.host_dir, "--domain", "openkms.test", "--service", service,
        "--target", "kms-v6.openkms.test", "--publish-addresses",
    )  # fmt: skip
    host = served(site.host_dir, listen="[::1]:0")
    wait_for(lambda: bind.query("kms-v6.openkms.test", "AAAA"), what="the AAAA record")
    assert bind.query("kms-v6.openkms.test", "A") == []
    client = make_client(site, tmp_path / "c6", bind, service)
    outcome: AttemptOutcome = client.activate()
    assert outcome.result is ResultCode.COUNT_TOO_LOW  # reached and answered over IPv6
    assert client.state().cached_address == "::1"
    assert outcome.host == f"kms-v6.openkms.test:{host.port}"


def test_silent_dns_server_used_by_locator_is_bounded() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        locator = DnsLocator(nameservers=[DnsServer(*silent.getsockname())], timeout=0.2)
        started = time.monotonic()
        assert asyncio.run(locator.resolve("kms.openkms.test")) == ()
    assert time.monotonic() - started < 2
