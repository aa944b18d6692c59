"""The host's DNS publishing loop: on start, then every ``republish_hours``, in each domain.

Each domain gets its own update and its own event: 12294 on success, 12293 (HRESULT, domain)
on failure. Nothing here ever raises into the host: a failure is logged, recorded in the
status file that ``dli`` reads, and retried on the next cycle. The configuration is read
again at each cycle, so ``cdns``/``sdns`` and ``dns-config`` take effect without a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.name
import msgspec

from openkms._files import atomic_write
from openkms.core import settings
from openkms.core.codes import ResultCode
from openkms.core.events import EventRecord, publish_failed_event, publish_succeeded_event
from openkms.core.host import DomainStatus, PublishStatus
from openkms.dns.srv import DnsServer
from openkms.dns.status import STATUS_FILE, read_status
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


EventSink = Callable[[EventRecord], Awaitable[None]]


class DnsPublisher:
    """Publishes the host's SRV record on start and then periodically."""

    def __init__(
        self,
        config: Callable[[], PublishConfig],
        log_event: EventSink,
        *,
        status_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
        poll_seconds: float = 5.0,
    ) -> None:
        self._config = config
        self._log_event = log_event
        self._status_dir = status_dir
        self._clock = clock
        self._poll_seconds = poll_seconds
        self.status = PublishStatus()

    async def run(self) -> None:
        """Publish now, then every republish interval or as soon as the settings change.

        Never raises (until cancelled). Settings are polled every few seconds, so ``sdns``
        after ``cdns``, or a new domain, takes effect without waiting for the interval.
        """
        loop = asyncio.get_running_loop()
        config = await self._read()
        await self.cycle(config)
        last = loop.time()
        while True:
            interval = config.republish_seconds if config else self._poll_seconds
            await asyncio.sleep(min(self._poll_seconds, interval))
            current = await self._read()
            if current != config or (current and loop.time() - last >= interval):
                config = current
                await self.cycle(config)
                last = loop.time()

    async def _read(self) -> PublishConfig | None:
        # In a worker thread: resolving the configuration reads files and may ask the
        # resolver (socket.getfqdn), which must never stall the host's event loop.
        try:
            return await asyncio.to_thread(self._config)
        except Exception as exc:  # bad settings must not stop the host from serving
            log.warning("DNS publishing not configured: %s", exc)
            return None

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
        try:
            await self._log_event(event)
        except Exception:  # the store may be closing; publishing must not fail the host
            log.exception("could not log event %d", event.event_id)

    def _save(self, status: PublishStatus) -> None:
        self.status = status
        if self._status_dir is None:
            return
        try:
            atomic_write(self._status_dir / STATUS_FILE, msgspec.json.encode(status) + b"\n")
        except (OSError, OpenKMSError) as exc:
            log.warning("could not write the DNS status: %s", exc)
