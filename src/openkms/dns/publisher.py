"""One DNS publishing cycle of a host: an update in each domain, its event and its status.

Each domain gets its own update and its own event: 12294 on success, 12293 (HRESULT, domain)
on failure. Nothing here raises: a failure is logged and recorded in the status file that
``dli`` reads. A serving host runs a cycle on start and then every ``republish_hours``, or as
soon as its settings change, each in a child process (``host/dns_runner.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.name
import msgspec

from openkms.core import settings
from openkms.core.codes import ResultCode
from openkms.core.events import EventRecord, publish_failed_event, publish_succeeded_event
from openkms.core.host import DomainStatus, PublishStatus
from openkms.dns.srv import DnsServer
from openkms.dns.status import EventSink, log_event, read_status, write_status
from openkms.dns.update import DnsUpdater, Registration, load_tsig_key
from openkms.errors import DnsError, OpenKMSError
from openkms.i18n import _

__all__ = [
    "DnsPublisher",
    "DomainStatus",
    "PublishConfig",
    "PublishDomain",
    "PublishStatus",
    "parse_publish_entry",
    "read_status",
]

log = logging.getLogger("openkms.dns")


@dataclass(frozen=True, slots=True)
class PublishDomain:
    """One ``DnsDomainPublishList`` entry: ``domain[, priority[, weight]]``."""

    domain: str
    priority: int = 0
    weight: int = 0


def parse_publish_entry(text: str, priority: int = 0, weight: int = 0) -> PublishDomain:
    """Parse ``domain[, priority[, weight]]`` (priority and weight 0..65535)."""
    parts = [p.strip() for p in text.split(",")]
    if not parts[0] or len(parts) > 3:
        raise OpenKMSError(
            _("{text!r} is not 'domain[, priority[, weight]]'").format(text=text),
            code=ResultCode.INVALID_ARGUMENT,
        )
    numbers = [priority, weight]
    for index, value in enumerate(parts[1:]):
        if not value.isdigit() or int(value) > 65535:
            raise OpenKMSError(
                _("{text!r}: {value!r} is not a number 0..65535").format(text=text, value=value),
                code=ResultCode.INVALID_ARGUMENT,
            )
        numbers[index] = int(value)
    return PublishDomain(check_dns_name(parts[0]), numbers[0], numbers[1])


def check_dns_name(text: str, what: str = "domain") -> str:
    """``text`` without its final dot if it is a valid DNS name; else INVALID_ARGUMENT."""
    name = text.strip().rstrip(".")
    try:
        dns.name.from_text(name)
    except dns.exception.DNSException as exc:
        raise OpenKMSError(
            _("{what} {text!r} is not a valid DNS name: {exc}").format(
                what=what, text=text, exc=exc
            ),
            code=ResultCode.INVALID_ARGUMENT,
            fix=_("Use labels of letters, digits and hyphens separated by single dots."),
        ) from None
    return name


@dataclass(frozen=True, slots=True)
class PublishConfig:
    """Everything one publishing cycle needs, resolved from the host's settings."""

    enabled: bool
    service: str
    target: str
    port: int
    domains: tuple[PublishDomain, ...]
    servers: tuple[DnsServer, ...]
    tsig_key_file: str | None = None
    ttl: int = settings.DNS_TTL_SECONDS
    addresses: tuple[str, ...] = ()
    timeout: float = settings.DNS_TIMEOUT_SECONDS
    republish_seconds: float = settings.DNS_REPUBLISH_HOURS * 3600.0
    problems: tuple[str, ...] = field(default=())

    def registration(self, entry: PublishDomain) -> Registration:
        """The record this host publishes in ``entry.domain``."""
        return Registration(
            self.service,
            entry.domain,
            self.target,
            self.port,
            entry.priority,
            entry.weight,
            self.ttl,
            self.addresses,
        )


class DnsPublisher:
    """Publishes the host's SRV record: one cycle at a time, with its events and status.

    A serving host schedules the cycles and runs each in a child process
    (``host/dns_runner.py``); commands run this in their own process.
    """

    def __init__(
        self,
        log_event: EventSink,
        *,
        status_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._log_event = log_event
        self._status_dir = status_dir
        self._clock = clock
        self.status = PublishStatus()

    async def cycle(self, config: PublishConfig | None) -> None:
        """One cycle: publish if enabled, and record the status."""
        if config is None:
            return
        if not config.enabled:
            if self.status.enabled:
                self._save(msgspec.structs.replace(self.status, enabled=False, next_run=0))
            return
        try:
            await self.publish_once(config)
        except Exception:  # a bug must not stop the host from serving
            log.exception("DNS publishing cycle failed")

    async def publish_once(self, config: PublishConfig) -> list[DomainStatus]:
        """Publish in every domain of ``config``; events and status for each."""
        now = int(self._clock())
        for problem in config.problems:
            log.warning("DNS publishing: %s", problem)
        updater = self._updater(config)
        results = [await self._publish_domain(updater, config, entry) for entry in config.domains]
        if not config.domains:
            results = [await self._nowhere(config, now)]
        self._save(
            PublishStatus(
                enabled=True,
                last_run=now,
                next_run=now + int(config.republish_seconds),
                record=f"{config.service} SRV {config.target}:{config.port}",
                domains=results,
            )
        )
        return results

    async def unpublish(self, config: PublishConfig) -> list[DomainStatus]:
        """Remove this host's records from every domain of ``config`` (no events)."""
        updater = self._updater(config)
        results = []
        for entry in config.domains:
            now = int(self._clock())
            try:
                if isinstance(updater, DnsError):
                    raise updater
                await updater.unpublish(config.registration(entry))
            except OpenKMSError as exc:
                results.append(DomainStatus(entry.domain, exc.code.hex, exc.message, now))
                continue
            results.append(DomainStatus(entry.domain, ResultCode.OK.hex, "removed", now))
        return results

    def _updater(self, config: PublishConfig) -> DnsUpdater | DnsError:
        try:
            key = load_tsig_key(Path(config.tsig_key_file)) if config.tsig_key_file else None
        except DnsError as exc:
            return exc
        return DnsUpdater(config.servers, key=key, timeout=config.timeout)

    async def _publish_domain(
        self, updater: DnsUpdater | DnsError, config: PublishConfig, entry: PublishDomain
    ) -> DomainStatus:
        now = int(self._clock())
        try:
            if isinstance(updater, DnsError):
                raise updater
            await updater.publish(config.registration(entry))
        except OpenKMSError as exc:
            log.warning("DNS publishing in %s failed: %s", entry.domain, exc)
            await self._event(publish_failed_event(now, exc.code, entry.domain))
            return DomainStatus(entry.domain, exc.code.hex, exc.message, now)
        except Exception as exc:  # a bug must not stop the host from serving
            log.exception("DNS publishing in %s failed unexpectedly", entry.domain)
            code = ResultCode.INTERNAL_ERROR
            await self._event(publish_failed_event(now, code, entry.domain))
            return DomainStatus(entry.domain, code.hex, str(exc), now)
        log.info("published %s.%s SRV -> %s", config.service, entry.domain, config.target)
        await self._event(publish_succeeded_event(now, entry.domain))
        return DomainStatus(entry.domain, ResultCode.OK.hex, "published", now)

    async def _nowhere(self, config: PublishConfig, now: int) -> DomainStatus:
        """No domain to publish in: a failure like any other (12293), not a silent success."""
        code = ResultCode.DNS_NAME_DOES_NOT_EXIST
        reason = config.problems[0] if config.problems else "no domain to publish in"
        await self._event(publish_failed_event(now, code, config.target))
        return DomainStatus(config.target, code.hex, reason, now)

    async def _event(self, event: EventRecord) -> None:
        await log_event(self._log_event, event)

    def _save(self, status: PublishStatus) -> None:
        self.status = status
        if self._status_dir is not None:
            write_status(self._status_dir, status)
