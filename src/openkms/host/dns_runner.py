"""A serving host's DNS publishing, each cycle in a short-lived child process.

The front process schedules the cycles, logs their events (12294, 12293) into the store and
writes the status file ``dli`` reads. The DNS work itself (resolving the settings, the
RFC 2136 updates with their TSIG signatures) runs in ``python -m openkms.host.dns_child``,
which exits when the cycle is done. So the front never loads dnspython: it and the
``importlib.metadata`` and ``email`` packages it pulls in would stay resident for as long as
the host serves, about 4.5 MiB of the 60 MiB a host may use (bench/README.md, "DNS
publishing in a child process"). A child that hangs is killed at a deadline; one that crashes
is a failed cycle (12293) like any other, retried at the next.

What changes publishing is watched here without dnspython: the ``dns_*`` settings, the
catalog's service, this machine's name and, when the settings name no server,
``/etc/resolv.conf``. A change publishes at once; otherwise every ``republish_hours``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

import msgspec

from openkms.core.codes import ResultCode
from openkms.core.events import EventRecord, publish_failed_event
from openkms.core.host import DomainStatus, PublishStatus
from openkms.core.host_settings import HostSettings
from openkms.dns.status import EventSink, log_event, write_status
from openkms.errors import OpenKMSError
from openkms.i18n import _

if TYPE_CHECKING:  # the child imports this module for its messages, and reads no store
    from openkms.host.state import HostState

__all__ = [
    "CHILD_MODULE",
    "ChildPublisher",
    "CycleOutcome",
    "CycleRequest",
    "DnsSettings",
    "NOT_CONFIGURED",
    "LogLine",
    "child_deadline",
]

log = logging.getLogger("openkms.dns")

CHILD_MODULE: Final = "openkms.host.dns_child"
RESOLV_CONF: Final = Path("/etc/resolv.conf")
# Output of a child kept at most (a cycle's outcome is a few KiB; its log, a few lines).
OUTPUT_MOST: Final = 1 << 20
# The child's exit status when the settings do not resolve (logged; nothing to publish).
NOT_CONFIGURED: Final = 2


class DnsSettings(msgspec.Struct, frozen=True):
    """What publishing reads of the host's settings: the port and every ``dns_*`` setting
    (``HostSettings`` has the meaning of each). Two equal ones publish the same."""

    port: int
    dns_publishing: bool
    dns_domain: str | None
    dns_publish_list: list[str]
    dns_servers: list[str]
    dns_tsig_key_file: str | None
    dns_ttl: int
    dns_republish_hours: float
    dns_target: str | None
    dns_priority: int
    dns_weight: int
    dns_publish_addresses: bool
    dns_addresses: list[str]
    dns_service: str | None
    dns_timeout: float

    @classmethod
    def of(cls, host_settings: HostSettings) -> DnsSettings:
        """The publishing settings of ``host_settings`` (read and checked by the host)."""
        return cls(**{name: getattr(host_settings, name) for name in cls.__struct_fields__})


class CycleRequest(msgspec.Struct, frozen=True):
    """What the child is asked: publish with these settings (read and checked by the host),
    the catalog's service (None: the default), this SRV target, for these bound addresses."""

    settings: DnsSettings
    service: str | None
    target: str
    bound: list[tuple[str, int]]


class LogLine(msgspec.Struct, frozen=True):
    """One log record of the child, relayed into the host's log."""

    level: int
    message: str


class CycleOutcome(msgspec.Struct, frozen=True):
    """What the child did: the status ``dli`` shows and the events to log."""

    status: PublishStatus
    events: list[EventRecord]


class _Inputs(msgspec.Struct, frozen=True):
    """What publishing depends on, read without dnspython (equal: nothing to republish):
    the ``dns_*`` settings and the port, the catalog's service, the SRV target, and
    resolv.conf's time and size when the settings name no DNS server."""

    dns: DnsSettings
    service: str | None
    target: str
    resolv_conf: tuple[int, int] | None


def child_deadline(dns: DnsSettings) -> float:
    """Seconds a cycle may take: every domain asking every server, twice, and a margin."""
    domains = 1 + len(dns.dns_publish_list)
    servers = max(1, len(dns.dns_servers))
    return 30.0 + 2 * dns.dns_timeout * domains * servers


def _republish_seconds(inputs: _Inputs) -> float:
    """The republish interval the settings name, in seconds."""
    return inputs.dns.dns_republish_hours * 3600.0


class ChildPublisher:
    """Publishes the host's SRV record on start, then periodically, each time in a child."""

    def __init__(
        self,
        state: HostState,
        log_event: EventSink,
        bound: Sequence[tuple[str, int]],
        *,
        clock: Callable[[], float] = time.time,
        poll_seconds: float = 5.0,
        command: Sequence[str] = (sys.executable, "-m", CHILD_MODULE),
        deadline: float | None = None,
    ) -> None:
        self._state = state
        self._log_event = log_event
        self._bound = [(host, port) for host, port in bound]
        self._clock = clock
        self._poll_seconds = poll_seconds
        self._command = list(command)
        self._deadline = deadline  # None: from the settings (child_deadline)
        self.status = PublishStatus()

    async def run(self) -> None:
        """Publish now, then every republish interval or as soon as the settings change.

        Never raises (until cancelled); a cancelled cycle's child is killed.
        """
        loop = asyncio.get_running_loop()
        inputs = await self._read()
        await self.cycle(inputs)
        last = loop.time()
        while True:
            interval = self._interval(inputs)
            await asyncio.sleep(min(self._poll_seconds, interval))
            current = await self._read()
            if current != inputs or (current and loop.time() - last >= interval):
                inputs = current
                await self.cycle(inputs)
                last = loop.time()

    def _interval(self, inputs: _Inputs | None) -> float:
        return _republish_seconds(inputs) if inputs is not None else self._poll_seconds

    async def _read(self) -> _Inputs | None:
        # In a worker thread: the settings are files, and socket.getfqdn() may ask the
        # resolver, which must never stall the host's event loop.
        try:
            return await asyncio.to_thread(self._inputs)
        except Exception as exc:  # bad settings must not stop the host from serving
            log.warning("DNS publishing not configured: %s", exc)
            return None

    def _inputs(self) -> _Inputs:
        dns = DnsSettings.of(self._state.settings)
        trust = self._state.trust()
        target = dns.dns_target or socket.getfqdn()
        resolv: tuple[int, int] | None = None
        if not dns.dns_servers:
            with contextlib.suppress(OSError):
                stat = RESOLV_CONF.stat()
                resolv = (stat.st_mtime_ns, stat.st_size)
        service = trust.catalog.service if trust is not None else None
        return _Inputs(dns, service, target, resolv)

    async def cycle(self, inputs: _Inputs | None) -> None:
        """One cycle: publish in a child if enabled; log its events, record its status."""
        if inputs is None:
            return
        if not inputs.dns.dns_publishing:
            if self.status.enabled:
                self._save(msgspec.structs.replace(self.status, enabled=False, next_run=0))
            return
        try:
            deadline = self._deadline or child_deadline(inputs.dns)
            outcome = await self._run_child(inputs, deadline)
            if outcome is None:
                return
        except OpenKMSError as exc:
            outcome = self._failed(inputs, exc.code, exc.message)
        except Exception as exc:  # a bug must not stop the host from serving
            log.exception("DNS publishing cycle failed")
            outcome = self._failed(inputs, ResultCode.INTERNAL_ERROR, str(exc))
        for event in outcome.events:
            await self._event(event)
        self._save(outcome.status)

    async def _run_child(self, inputs: _Inputs, deadline: float) -> CycleOutcome | None:
        request = msgspec.json.encode(
            CycleRequest(inputs.dns, inputs.service, inputs.target, self._bound)
        )
        try:
            process = subprocess.Popen(
                self._command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            raise OpenKMSError(
                _("cannot start the DNS publishing process: {exc}").format(exc=exc),
                code=ResultCode.INTERNAL_ERROR,
            ) from exc
        try:
            out, err = await asyncio.to_thread(process.communicate, request, deadline)
        except subprocess.TimeoutExpired:
            raise OpenKMSError(
                _("the DNS publishing process did not finish within {seconds} s: killed").format(
                    seconds=f"{deadline:.0f}"
                ),
                code=ResultCode.TIMEOUT,
            ) from None
        finally:
            if process.poll() is None:
                process.kill()
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(process.communicate)
        _relay(err[-OUTPUT_MOST:])
        if process.returncode == NOT_CONFIGURED:
            return None
        if process.returncode != 0:
            raise OpenKMSError(
                _("the DNS publishing process failed (exit status {status})").format(
                    status=process.returncode
                ),
                code=ResultCode.INTERNAL_ERROR,
            )
        try:
            return msgspec.json.decode(out[:OUTPUT_MOST], type=CycleOutcome)
        except msgspec.DecodeError as exc:
            raise OpenKMSError(
                _("the DNS publishing process answered garbage: {exc}").format(exc=exc),
                code=ResultCode.INTERNAL_ERROR,
            ) from None

    def _failed(self, inputs: _Inputs, code: ResultCode, reason: str) -> CycleOutcome:
        """A cycle whose child did not report: one 12293 for the target, retried next cycle."""
        log.warning("DNS publishing failed: %s", reason)
        now = int(self._clock())
        interval = int(_republish_seconds(inputs))
        status = PublishStatus(
            enabled=True,
            last_run=now,
            next_run=now + interval,
            record=self.status.record,
            domains=[DomainStatus(inputs.target, code.hex, reason, now)],
        )
        return CycleOutcome(status, [publish_failed_event(now, code, inputs.target)])

    async def _event(self, event: EventRecord) -> None:
        await log_event(self._log_event, event)

    def _save(self, status: PublishStatus) -> None:
        self.status = status
        write_status(self._state.directory, status)


def _relay(err: bytes) -> None:
    """The child's log lines into the host's log (lines that are not records: as warnings)."""
    decoder = msgspec.json.Decoder(LogLine)
    for raw in err.splitlines():
        if not raw.strip():
            continue
        try:
            line = decoder.decode(raw)
        except msgspec.DecodeError:
            log.warning("DNS publishing process: %s", raw.decode("utf-8", "replace"))
            continue
        level = line.level if logging.DEBUG <= line.level <= logging.CRITICAL else logging.WARNING
        log.log(level, "%s", line.message)
