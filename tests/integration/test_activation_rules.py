"""The KMS rules through the library: HostService + in-memory store + clients, injected clock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from openkms.client.api import Client
from openkms.client.transport import MemoryTransport
from openkms.core.codes import ResultCode
from openkms.core.license import LicenseState
from openkms.core.trust import Trust
from openkms.host.service import HostService
from openkms.protocol.messages import ActivationRequest, ActivationResponse
from openkms.store.base import EventQuery
from openkms.store.memory import MemoryStore

from helpers import Site, make_site

DAY = 86400


@dataclass
class Clock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, days: float = 0, hours: float = 0) -> None:
        self.now += days * DAY + hours * 3600


@dataclass
class Network:
    site: Site
    clock: Clock
    store: MemoryStore
    service: HostService
    transport: MemoryTransport
    tmp: Path
    clients: dict[str, Client] = field(default_factory=dict)

    def client(
        self, name: str, edition: str = "Desktop Standard", *, clock: Clock | None = None
    ) -> Client:
        c = Client.open(
            self.tmp / "clients" / name,
            machine_name=name,
            transport=self.transport,
            clock=clock or self.clock,
        )
        c.install_key(self.site.product(edition).setup_key, self.site.publisher.trust())
        c.set_kms("kms.test:1688")
        self.clients[name] = c
        return c

    def events(self, event_id: int) -> list[str]:
        records = asyncio.run(self.store.events(EventQuery(event_ids=(event_id,), limit=10**6)))
        return [r.info for r in records]


def _network(tmp_path: Path, group: str = "C", *, activate: bool = True) -> Network:
    site = make_site(tmp_path / "site", group, activate=activate)
    clock = Clock()
    store = MemoryStore()
    asyncio.run(store.open())
    state = site.host_state
    service = HostService(
        store=store,
        activation=state.activation(int(clock())),
        private_key=state.private_key(),
        host_settings=state.settings,
        host_id=state.host_id,
        clock=clock,
    )
    transport = MemoryTransport()
    transport.hosts[("kms.test", 1688)] = service.handle
    return Network(site, clock, store, service, transport, tmp_path)


@pytest.fixture
def net(tmp_path: Path) -> Network:
    return _network(tmp_path)


def test_the_25th_desktop_activates_and_the_first_24_on_their_next_attempt(net: Network) -> None:
    first = [net.client(f"pc{i:02d}").activate() for i in range(24)]
    assert {o.result for o in first} == {ResultCode.COUNT_TOO_LOW}
    assert first[-1].count == 24
    assert all(o.license and o.license.state is LicenseState.INITIAL_GRACE for o in first)
    last = net.client("pc24").activate()
    assert last.activated and last.count == 25
    assert last.license is not None and last.license.state is LicenseState.LICENSED
    again = [net.clients[f"pc{i:02d}"].activate() for i in range(24)]
    assert all(o.activated for o in again)
    assert net.clients["pc00"].license().minutes_remaining == 180 * 1440


def test_a_server_edition_activates_from_five(net: Network) -> None:
    results = [net.client(f"srv{i}", "Standard").activate() for i in range(5)]
    assert [o.activated for o in results] == [False] * 4 + [True]
    assert results[0].result is ResultCode.COUNT_TOO_LOW


def test_the_count_never_exceeds_fifty(net: Network) -> None:
    counts = [net.client(f"pc{i}").activate().count for i in range(60)]
    assert max(c for c in counts if c is not None) == 50
    assert counts[-1] == 50


def test_the_count_caps_at_ten_with_only_servers(net: Network) -> None:
    counts = [net.client(f"srv{i}", "Web").activate().count for i in range(14)]
    assert counts[-1] == 10


def test_a_repeated_cmid_leaves_the_count_unchanged_until_rearm(net: Network) -> None:
    c = net.client("pc")
    assert c.activate().count == 1
    assert c.activate().count == 1
    c.rearm()
    assert c.activate().count == 2


def test_rearm_is_limited(net: Network) -> None:
    c = net.client("pc")
    for _ in range(3):
        c.rearm()
    with pytest.raises(Exception) as info:
        c.rearm()
    assert getattr(info.value, "code", None) is ResultCode.MAX_REARMS_EXCEEDED


def test_a_cmid_unseen_for_thirty_days_leaves_the_count(net: Network) -> None:
    old = [net.client(f"old{i}", "Standard") for i in range(5)]
    for c in old:
        c.activate()
    net.clock.advance(days=20)
    recent = net.client("recent", "Standard").activate()
    assert recent.count == 6
    net.clock.advance(days=10, hours=1)
    after = net.client("late", "Standard").activate()
    assert after.count == 2  # 'recent' and 'late'; the five old ones aged out
    assert not after.activated


def test_the_threshold_cliff_client_keeps_its_activation_until_expiry(net: Network) -> None:
    servers = [net.client(f"s{i}", "Standard") for i in range(5)]
    for s in servers:
        s.activate()
    assert servers[0].activate().activated
    net.clock.advance(days=31)
    renewal = servers[0].activate()
    assert renewal.result is ResultCode.COUNT_TOO_LOW and renewal.count == 1
    assert servers[0].license().state is LicenseState.LICENSED  # still within its 180 days
    net.clock.advance(days=150)
    assert servers[0].license().state is LicenseState.OUT_OF_TOLERANCE_GRACE
    net.clock.advance(days=30)
    assert servers[0].license().state is LicenseState.NOTIFICATION


def test_group_b_host_refuses_group_c_and_counts_it_failed(tmp_path: Path) -> None:
    net = _network(tmp_path, "B")
    for i in range(4):
        net.client(f"b{i}", "Standard").activate()
    refused = net.client("dc", "Datacenter").activate()
    assert refused.result is ResultCode.PRODUCT_NOT_COVERED
    counters = asyncio.run(net.store.counters(net.service.host_id))
    assert counters.failed == 1 and counters.total == 5
    assert net.client("b4", "Enterprise").activate().count == 5  # the refusal did not count


@pytest.mark.parametrize("edition", ["Desktop Standard", "Web", "Standard", "Datacenter"])
def test_group_c_host_activates_every_group(net: Network, edition: str) -> None:
    for i in range(25):
        net.client(f"pc{i}", "Desktop Professional").activate()
    assert net.client("x", edition).activate().activated


def test_clock_skew_over_four_hours_is_refused(net: Network) -> None:
    skewed = Clock(net.clock.now + 4 * 3600 + 60)
    outcome = net.client("skewed", "Standard", clock=skewed).activate()
    assert outcome.result is ResultCode.CLOCK_SKEW
    within = Clock(net.clock.now - 3 * 3600)
    assert net.client("ok", "Standard", clock=within).activate().count == 1


def test_an_unactivated_host_answers_c004f041(tmp_path: Path) -> None:
    net = _network(tmp_path, activate=False)
    outcome = net.client("pc").activate()
    assert outcome.result is ResultCode.HOST_NOT_ACTIVATED
    assert net.events(12290)[0].startswith("0xC004F041,")


def test_a_claimed_n_policy_is_recorded_but_never_trusted(net: Network) -> None:

    product = net.site.product("Desktop Standard")
    trust = net.site.publisher.trust()
    for i in range(3):
        request = ActivationRequest(
            bytes([i]) * 16,
            trust.catalog.application_id,
            product.activation_id,
            bytes([i + 1]) * 16,
            f"liar{i}",
            int(net.clock()),
            2,
            43200,
            1,
        )
        response = asyncio.run(net.service.handle(request, 1688))
        assert isinstance(response, ActivationResponse)
        assert response.ticket is None and response.current_count == i + 1
    assert net.events(12290)[0].split(",")[1] == "0x1"


def test_events_12290_per_request_and_12288_12289_per_attempt(net: Network) -> None:
    c = net.client("pc")
    c.activate()
    c.activate()
    host_events = net.events(12290)
    assert len(host_events) == 2
    fields = host_events[0].split(",")
    assert fields[0] == "0x0" and fields[1] == "0x19" and fields[2] == "pc"
    assert fields[3] == c.state().cmid and fields[6] == "2" and fields[8] == c.state().activation_id
    client_events = [(e.event_id, e.info.split(",")) for e in c.events.read()]
    assert [e[0] for e in client_events] == [12288, 12289, 12288, 12289]
    request_fields = client_events[0][1]
    assert request_fields[2] == "kms.test:1688" and request_fields[3] == c.state().cmid
    assert request_fields[9] == "25"
    response_fields = client_events[1][1]
    assert (
        response_fields[0] == "0xC004F038"
        and response_fields[2] == "0"
        and response_fields[4] == "1"
    )
    assert response_fields[5:7] == ["120", "10080"]


def test_unreachable_hosts_give_c004f074_listing_each(net: Network) -> None:
    c = net.client("pc")
    c.set_kms("nowhere.test:1688")
    outcome = c.activate()
    assert outcome.result is ResultCode.NO_KMS_HOST_CONTACTED
    assert "nowhere.test:1688" in outcome.message
    assert [e.event_id for e in c.events.read()] == [12288]


def test_intervals_come_from_the_host(net: Network) -> None:
    net.service.settings = type(net.service.settings)(activation_interval=30, renewal_interval=1440)
    c = net.client("pc")
    c.activate()
    state = c.state()
    assert (state.activation_interval, state.renewal_interval) == (30, 1440)


def test_one_activation_reads_the_state_once_and_verifies_the_trust_once(
    net: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = net.client("pc")
    reads: list[str] = []
    verifications: list[str] = []
    read_bytes = Path.read_bytes
    from_json = Trust.from_json.__func__  # type: ignore[attr-defined]

    def counting_read(self: Path) -> bytes:
        reads.append(self.name)
        return read_bytes(self)

    def counting_from_json(cls: type[Trust], data: bytes, source: str = "trust.json") -> Trust:
        verifications.append(source)
        result: Trust = from_json(cls, data, source)
        return result

    monkeypatch.setattr(Path, "read_bytes", counting_read)
    monkeypatch.setattr(Trust, "from_json", classmethod(counting_from_json))
    outcome = c.activate()
    assert outcome.result is ResultCode.COUNT_TOO_LOW and outcome.license is not None
    assert reads.count("client.json") == 1
    assert reads.count("trust.json") == 1
    assert len(verifications) == 1
    reads.clear()
    verifications.clear()
    c.license()
    assert (reads.count("client.json"), len(verifications)) == (1, 1)


def test_client_events_carry_their_result_code(net: Network) -> None:
    c = net.client("pc")
    c.activate()
    request, response = c.events.read()
    assert (request.event_id, request.hresult) == (12288, 0)
    assert (response.event_id, response.hresult) == (12289, int(ResultCode.COUNT_TOO_LOW))
    assert response.info.startswith("0xC004F038,0x4000000,0,0,1,120,10080,")
