"""DNS without a server: RFC 2782 order, error mapping, key files, publish list, publisher."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

import dns.rcode
import dns.resolver
import dns.tsig
import pytest

from openkms.client.discovery import Candidate, Locator, candidates
from openkms.core.codes import ResultCode
from openkms.core.events import EventRecord
from openkms.dns.publisher import (
    DnsPublisher,
    PublishConfig,
    PublishDomain,
    check_dns_name,
    parse_publish_entry,
    read_status,
)
from openkms.dns.srv import DnsServer, SrvRecord, lookup_error, order_srv, parse_server
from openkms.dns.update import DnsUpdater, Registration, parse_tsig_key, rcode_error, update_error
from openkms.errors import DnsError, OpenKMSError


def _srv(target: str, priority: int = 0, weight: int = 0) -> SrvRecord:
    return SrvRecord(priority, weight, 1688, target)


def test_order_by_priority_first() -> None:
    records = [_srv("c", 20), _srv("a", 0), _srv("b", 10)]
    assert [r.target for r in order_srv(records, random.Random(1))] == ["a", "b", "c"]


def test_weights_distribution_matches_rfc_2782() -> None:
    rng = random.Random(42)
    records = [_srv("heavy", weight=70), _srv("light", weight=20), _srv("tiny", weight=10)]
    firsts = Counter(order_srv(records, rng)[0].target for _ in range(10_000))
    # pick in [0, 100]: heavy 71/101, light 20/101, tiny 10/101
    assert firsts["heavy"] / 10_000 == pytest.approx(71 / 101, abs=0.02)
    assert firsts["light"] / 10_000 == pytest.approx(20 / 101, abs=0.02)
    assert firsts["tiny"] / 10_000 == pytest.approx(10 / 101, abs=0.02)


def test_every_record_appears_once_and_zero_weights_still_chosen() -> None:
    records = [_srv("z1"), _srv("z2"), _srv("w", weight=5)]
    orders = [order_srv(records, random.Random(seed)) for seed in range(200)]
    assert all(sorted(r.target for r in o) == ["w", "z1", "z2"] for o in orders)
    assert {o[0].target for o in orders} == {"w", "z1", "z2"}


def test_ignore_priority_is_uniform_and_drops_dot_target() -> None:
    rng = random.Random(5)
    records = [_srv("a", 0, 100), _srv("b", 99, 0), _srv(".", 0, 0)]
    firsts = Counter(order_srv(records, rng, honour_priority=False)[0].target for _ in range(4000))
    assert set(firsts) == {"a", "b"}
    assert firsts["b"] / 4000 == pytest.approx(0.5, abs=0.03)


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (dns.resolver.NXDOMAIN(), ResultCode.DNS_NAME_DOES_NOT_EXIST),
        (dns.resolver.NoAnswer(), ResultCode.DNS_NAME_DOES_NOT_EXIST),
        (dns.resolver.NoResolverConfiguration(), ResultCode.NO_DNS_SERVERS),
        (dns.resolver.LifetimeTimeout(timeout=1.0, errors={}), ResultCode.NO_KMS_HOST_CONTACTED),
        (dns.resolver.NoNameservers(), ResultCode.DNS_SERVER_FAILURE),
    ],
)
def test_lookup_errors(exc: Exception, code: ResultCode) -> None:
    assert lookup_error(exc, "_openkms._tcp.example", "192.0.2.1:53", 2.0).code is code


@pytest.mark.parametrize(
    ("rcode", "code"),
    [
        (dns.rcode.REFUSED, ResultCode.DNS_UPDATE_REFUSED),
        (dns.rcode.NOTAUTH, ResultCode.DNS_NOT_AUTHORITATIVE),
        (dns.rcode.NOTZONE, ResultCode.DNS_NOT_AUTHORITATIVE),
        (dns.rcode.SERVFAIL, ResultCode.DNS_SERVER_FAILURE),
        (dns.rcode.YXDOMAIN, ResultCode.DNS_SERVER_FAILURE),
    ],
)
def test_update_rcodes(rcode: dns.rcode.Rcode, code: ResultCode) -> None:
    error = rcode_error(rcode, "192.0.2.1:53", "example")
    assert error.code is code
    assert dns.rcode.to_text(rcode) in error.message


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (dns.tsig.PeerBadKey(), ResultCode.DNS_BAD_KEY),
        (dns.tsig.PeerBadSignature(), ResultCode.DNS_BAD_SIGNATURE),
        (dns.tsig.PeerBadTime(), ResultCode.DNS_BAD_SIGNATURE),
        (dns.exception.Timeout(), ResultCode.TIMEOUT),
        (ConnectionRefusedError(), ResultCode.TIMEOUT),
        (dns.exception.FormError(), ResultCode.DNS_SERVER_FAILURE),
    ],
)
def test_update_exceptions(exc: BaseException, code: ResultCode) -> None:
    assert update_error(exc, "192.0.2.1:53", "example", 1.0).code is code


def test_tsig_key_file_as_tsig_keygen_writes_it() -> None:
    text = 'key "kms-key" {\n\talgorithm hmac-sha256;\n\tsecret "c2VjcmV0c2VjcmV0";\n};\n'
    key = parse_tsig_key(text)
    assert (key.name, key.algorithm, key.secret) == ("kms-key", "hmac-sha256", "c2VjcmV0c2VjcmV0")
    assert key.keyring()
    with pytest.raises(DnsError, match="not a BIND key file"):
        parse_tsig_key("secret")


def test_publish_list_entries() -> None:
    assert parse_publish_entry("corp.example") == PublishDomain("corp.example", 0, 0)
    assert parse_publish_entry("corp.example., 5") == PublishDomain("corp.example", 5, 0)
    assert parse_publish_entry(" b.example , 1, 50") == PublishDomain("b.example", 1, 50)
    for bad in ("", "a,b", "a,1,2,3", "a,70000"):
        with pytest.raises(OpenKMSError):
            parse_publish_entry(bad)


def test_dns_server_addresses() -> None:
    assert parse_server("192.0.2.1") == DnsServer("192.0.2.1", 53)
    assert parse_server("[2001:db8::1]:5353") == DnsServer("2001:db8::1", 5353)
    with pytest.raises(OpenKMSError):
        parse_server("dns.example")


def _config(**kw: object) -> PublishConfig:
    values: dict[str, object] = {
        "enabled": True,
        "service": "_openkms._tcp",
        "target": "kms.example",
        "port": 1688,
        "domains": (PublishDomain("example"), PublishDomain("branch.example")),
        "servers": (),
    }
    values.update(kw)
    return PublishConfig(**values)  # type: ignore[arg-type]


def test_publisher_without_dns_server_logs_12293_per_domain(tmp_path: Path) -> None:
    logged: list[EventRecord] = []

    async def sink(event: EventRecord) -> None:
        logged.append(event)

    publisher = DnsPublisher(sink, status_dir=tmp_path, clock=lambda: 1_000)
    asyncio.run(publisher.cycle(_config()))
    assert [(e.event_id, e.info) for e in logged] == [
        (12293, "0x8007267C,example"),
        (12293, "0x8007267C,branch.example"),
    ]
    status = read_status(tmp_path)
    assert status is not None and status.last_run == 1_000
    assert [d.result for d in status.domains] == ["0x8007267C", "0x8007267C"]


def test_publisher_disabled_publishes_nothing_and_bad_key_file_is_12293(tmp_path: Path) -> None:
    logged: list[EventRecord] = []

    async def sink(event: EventRecord) -> None:
        logged.append(event)

    publisher = DnsPublisher(sink, status_dir=tmp_path)
    asyncio.run(publisher.cycle(_config(enabled=False)))
    assert logged == [] and read_status(tmp_path) is not None
    assert not read_status(tmp_path).enabled  # type: ignore[union-attr]
    missing = str(tmp_path / "missing.key")
    config = _config(servers=(DnsServer("127.0.0.1"),), tsig_key_file=missing)
    asyncio.run(publisher.cycle(config))
    assert [e.info for e in logged] == ["0x80070057,example", "0x80070057,branch.example"]


class _FixedLocator(Locator):
    def __init__(self, found: list[Candidate], resolved: tuple[str, ...] = ()) -> None:
        self.found = found
        self.resolved = resolved

    async def locate(self, service: str, domain: str | None) -> list[Candidate]:
        return self.found

    async def resolve(self, host: str) -> tuple[str, ...]:
        return self.resolved


def test_cached_host_first_then_dns_and_cached_address_fallback() -> None:
    dns_found = [Candidate("kms1.example", 1688, "dns", ("192.0.2.1",))]

    async def run(resolved: tuple[str, ...]) -> list[Candidate]:
        found, error = await candidates(
            registered=None,
            cached="kms2.example:1700",
            caching=True,
            cached_address="192.0.2.2",
            locator=_FixedLocator(dns_found, resolved),
            service="_openkms._tcp",
            domain=None,
        )
        assert error is None
        return found

    found = asyncio.run(run(()))
    assert found[0] == Candidate("kms2.example", 1700, "cache", ("192.0.2.2",))
    assert found[1] == dns_found[0]
    assert asyncio.run(run(("192.0.2.9",)))[0].addresses == ("192.0.2.9",)


def test_a_malformed_domain_is_refused_with_a_code_not_a_traceback() -> None:

    for bad in ("a..b", "x" * 64 + ".example"):
        with pytest.raises(OpenKMSError) as info:
            check_dns_name(bad)
        assert info.value.code.hex == "0x80070057"
        with pytest.raises(OpenKMSError):
            parse_publish_entry(f"{bad}, 0, 0")
    assert check_dns_name("corp.example.") == "corp.example"
    registration = Registration(
        domain="a..b",
        service="_openkms._tcp",
        target="kms.corp.example",
        port=1688,
        priority=0,
        weight=0,
        ttl=3600,
        addresses=(),
    )
    updater = DnsUpdater([])
    with pytest.raises(DnsError) as error:
        asyncio.run(updater.unpublish(registration))
    assert error.value.code.hex == "0x80070057" and "a..b" in error.value.message
