"""DNS publishing says what happened: 12293 when there is no domain, 'published' only if so."""

from __future__ import annotations

import asyncio
from pathlib import Path

from openkms.core.events import EventRecord
from openkms.core.host import DomainStatus, HostInfo, PublishStatus
from openkms.dns.publisher import DnsPublisher, PublishConfig, PublishDomain, read_status
from openkms.slmgr_text import host_text


def config(domains: tuple[PublishDomain, ...], problems: tuple[str, ...] = ()) -> PublishConfig:
    return PublishConfig(True, "_openkms._tcp", "kms", 1688, domains, (), problems=problems)


def test_no_domain_to_publish_in_is_a_12293_failure(tmp_path: Path) -> None:
    logged: list[EventRecord] = []

    async def sink(event: EventRecord) -> None:
        logged.append(event)

    why = "the target 'kms' has no domain and no domain is set: nothing is published"
    publisher = DnsPublisher(sink, status_dir=tmp_path)
    asyncio.run(publisher.cycle(config((), (why,))))
    assert [(e.event_id, e.info) for e in logged] == [(12293, "0x8007232B,kms")]
    status = read_status(tmp_path)
    assert status is not None
    assert [(d.domain, d.result, d.message) for d in status.domains] == [("kms", "0x8007232B", why)]


def info(status: PublishStatus) -> HostInfo:
    return HostInfo(
        name="n", description="d", partial_product_key=None, license_status="Licensed",
        activated=True, problem=None, certificate_group="C", certificate_expires_at=None,
        current_count=0, port=1688, dns_publishing=True, low_priority=False,
        activation_interval=120, renewal_interval=10080, total_requests=0, failed_requests=0,
        requests_by_status={}, dns_status=status, listening=["0.0.0.0:1688"],
    )  # fmt: skip


def test_dli_says_not_published_when_every_domain_failed() -> None:
    failed = DomainStatus("example", "0x8007267C", "no DNS server", 1_700_000_000)
    text = host_text(
        info(PublishStatus(True, 1_700_000_000, 0, "_openkms._tcp SRV kms:1688", [failed]))
    )
    assert "(not published; last attempt 2023-11-14" in text
    assert "last published" not in text
    ok = DomainStatus("example", "0x00000000", "published", 1_700_000_100)
    text = host_text(info(PublishStatus(True, 1_700_000_100, 0, "r", [failed, ok])))
    assert "DNS record: r (published 2023-11-14" in text
