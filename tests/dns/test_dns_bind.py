"""The DNS library against a real BIND9: updates, their failures, SRV lookups and selection."""

from __future__ import annotations

import asyncio
import base64
import random
import socket
import time
from collections import Counter

import pytest
from bindserver import REFUSING, Bind

from openkms.core.codes import ResultCode
from openkms.dns.srv import DnsLocator, DnsServer
from openkms.dns.update import DnsUpdater, Registration, TsigKey
from openkms.errors import DnsError

pytestmark = pytest.mark.e2e


def _reg(service: str, target: str, port: int = 1688, **kw: object) -> Registration:
    return Registration(service, "openkms.test", target, port, **kw)  # type: ignore[arg-type]


def _publish(bind: Bind, *regs: Registration, key: TsigKey | None = None) -> None:
    updater = DnsUpdater([bind.server], key=key or bind.key, timeout=2.0)
    for reg in regs:
        asyncio.run(updater.publish(reg))


def test_publish_replaces_only_own_record(bind: Bind) -> None:
    _publish(bind, _reg("_own._tcp", "kms1.openkms.test"), _reg("_own._tcp", "kms2.openkms.test"))
    # kms1 moves to another port: its old record goes, kms2's stays.
    _publish(bind, _reg("_own._tcp", "kms1.openkms.test", 1700, priority=5, weight=7))
    assert bind.query("_own._tcp.openkms.test") == [
        "0 0 1688 kms2.openkms.test.",
        "5 7 1700 kms1.openkms.test.",
    ]
    updater = DnsUpdater([bind.server], key=bind.key, timeout=2.0)
    asyncio.run(updater.unpublish(_reg("_own._tcp", "kms1.openkms.test")))
    assert bind.query("_own._tcp.openkms.test") == ["0 0 1688 kms2.openkms.test."]


def test_publish_address_records_ipv4_and_ipv6(bind: Bind) -> None:
    reg = _reg("_addr._tcp", "kms-a.openkms.test", addresses=("127.0.0.1", "::1"), ttl=600)
    _publish(bind, reg)
    assert bind.query("kms-a.openkms.test", "A") == ["127.0.0.1"]
    assert bind.query("kms-a.openkms.test", "AAAA") == ["::1"]
    asyncio.run(DnsUpdater([bind.server], key=bind.key, timeout=2.0).unpublish(reg))
    assert bind.query("kms-a.openkms.test", "A") == []
    assert bind.query("_addr._tcp.openkms.test") == []


@pytest.mark.parametrize(
    ("key", "domain", "code"),
    [
        ("right", REFUSING, ResultCode.DNS_UPDATE_REFUSED),
        ("none", "openkms.test", ResultCode.DNS_UPDATE_REFUSED),
        ("wrong-secret", "openkms.test", ResultCode.DNS_BAD_SIGNATURE),
        ("unknown-name", "openkms.test", ResultCode.DNS_BAD_KEY),
        ("right", "nozone.test", ResultCode.DNS_NOT_AUTHORITATIVE),
    ],
)
def test_update_failures_map_to_result_codes(
    bind: Bind, key: str, domain: str, code: ResultCode
) -> None:
    wrong = base64.b64encode(b"x" * 32).decode()
    keys = {
        "right": bind.key,
        "none": None,
        "wrong-secret": TsigKey(bind.key.name, wrong),
        "unknown-name": TsigKey("nobody-key", wrong),
    }
    updater = DnsUpdater([bind.server], key=keys[key], timeout=2.0)
    reg = Registration("_fail._tcp", domain, "kms.openkms.test", 1688)
    with pytest.raises(DnsError) as info:
        asyncio.run(updater.publish(reg))
    assert info.value.code is code, info.value


def test_update_to_a_dead_server_times_out_quickly() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))  # bound but never answering: a silent server
        port = sink.getsockname()[1]
        updater = DnsUpdater([DnsServer("127.0.0.1", port)], timeout=0.3)
        started = time.monotonic()
        with pytest.raises(DnsError) as info:
            asyncio.run(updater.publish(_reg("_dead._tcp", "kms.openkms.test")))
    assert info.value.code is ResultCode.TIMEOUT
    assert time.monotonic() - started < 2.0


def test_update_without_server_is_0x8007267c() -> None:
    with pytest.raises(DnsError) as info:
        asyncio.run(DnsUpdater([]).publish(_reg("_none._tcp", "kms.openkms.test")))
    assert info.value.code is ResultCode.NO_DNS_SERVERS


def _locator(bind: Bind, **kw: object) -> DnsLocator:
    return DnsLocator(nameservers=[bind.server], timeout=2.0, **kw)  # type: ignore[arg-type]


def test_locate_with_search_list_and_addresses(bind: Bind) -> None:
    _publish(
        bind,
        _reg("_loc._tcp", "kms-l.openkms.test", 1701, addresses=("127.0.0.1",)),
    )
    locator = _locator(bind, search_domains=["nothing.test", "openkms.test"])
    found = asyncio.run(locator.locate("_loc._tcp", None))
    assert [(c.host, c.port, c.source, c.addresses) for c in found] == [
        ("kms-l.openkms.test", 1701, "dns", ("127.0.0.1",))
    ]
    assert asyncio.run(locator.resolve("kms-l.openkms.test")) == ("127.0.0.1",)


def test_locate_missing_record_is_0x8007232b(bind: Bind) -> None:
    with pytest.raises(DnsError) as info:
        asyncio.run(_locator(bind).locate("_missing._tcp", "openkms.test"))
    assert info.value.code is ResultCode.DNS_NAME_DOES_NOT_EXIST


def test_locate_without_dns_server() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    with silent:
        locator = DnsLocator(nameservers=[DnsServer(*silent.getsockname())], timeout=0.3)
        started = time.monotonic()
        with pytest.raises(DnsError) as info:
            asyncio.run(locator.locate("_x._tcp", "openkms.test"))
    assert info.value.code is ResultCode.NO_KMS_HOST_CONTACTED
    assert time.monotonic() - started < 2.0


def test_priority_then_weight_distribution(bind: Bind) -> None:
    _publish(
        bind,
        _reg("_w._tcp", "heavy.openkms.test", priority=0, weight=60),
        _reg("_w._tcp", "light.openkms.test", priority=0, weight=20),
        _reg("_w._tcp", "backup.openkms.test", priority=10, weight=100),
    )
    locator = _locator(bind, rng=random.Random(7))

    async def firsts() -> Counter[str]:
        counts: Counter[str] = Counter()
        for _ in range(400):
            found = await locator.locate("_w._tcp", "openkms.test")
            assert found[-1].host == "backup.openkms.test"  # higher priority value: last
            counts[found[0].host] += 1
        return counts

    counts = asyncio.run(firsts())
    assert set(counts) == {"heavy.openkms.test", "light.openkms.test"}
    assert 0.68 <= counts["heavy.openkms.test"] / 400 <= 0.82  # 60/(60+20+1) ≈ 0.74


def test_ignore_priority_is_uniform(bind: Bind) -> None:
    _publish(
        bind,
        _reg("_u._tcp", "a.openkms.test", priority=0, weight=100),
        _reg("_u._tcp", "b.openkms.test", priority=50, weight=0),
    )
    locator = _locator(bind, honour_priority=False, rng=random.Random(3))

    async def firsts() -> Counter[str]:
        counts: Counter[str] = Counter()
        for _ in range(300):
            counts[(await locator.locate("_u._tcp", "openkms.test"))[0].host] += 1
        return counts

    counts = asyncio.run(firsts())
    assert 0.4 <= counts["b.openkms.test"] / 300 <= 0.6
