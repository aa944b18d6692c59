"""One DNS publishing cycle of a serving host, in a process of its own.

``python -m openkms.host.dns_child`` reads a :class:`~openkms.host.dns_runner.CycleRequest`
(JSON) on its standard input: the host's settings as the host read and checked them (this
process reads no file of the store). It resolves them (the DNS servers from resolv.conf when
the settings name none), publishes the SRV record in every domain, and writes a
:class:`~openkms.host.dns_runner.CycleOutcome` (JSON) on its standard output: the status
``dli`` shows and the events for the host to log. Its log records go to standard error, one
JSON :class:`~openkms.host.dns_runner.LogLine` each, for the host to relay. It exits 0
whenever it wrote an outcome (a failed update is an outcome), ``NOT_CONFIGURED`` (2) when the
settings do not resolve, else 1. See :mod:`openkms.host.dns_runner` for why this is a process.
"""

from __future__ import annotations

import asyncio
import logging
import sys

import msgspec

from openkms.core.events import EventRecord
from openkms.dns.publisher import DnsPublisher
from openkms.host.dns_runner import NOT_CONFIGURED, CycleOutcome, CycleRequest, LogLine
from openkms.host.publishing import config_from

__all__ = ["main", "run_cycle"]

log = logging.getLogger("openkms.dns")

# A request is a directory and a few addresses: anything longer is not one.
REQUEST_MOST = 64 * 1024


class _JsonLines(logging.Handler):
    """Log records as JSON lines on standard error."""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
        line = msgspec.json.encode(LogLine(record.levelno, message))
        sys.stderr.buffer.write(line + b"\n")
        sys.stderr.buffer.flush()


async def run_cycle(request: CycleRequest) -> CycleOutcome | None:
    """Publish as ``request`` says; the status and the events.

    None when the settings cannot be resolved: logged, nothing published, no event.
    """
    try:
        config = await asyncio.to_thread(
            config_from, request.settings, request.service, request.target, bound=request.bound
        )
    except Exception as exc:  # bad settings: the host serves on and reads them again
        log.warning("DNS publishing not configured: %s", exc)
        return None
    events: list[EventRecord] = []

    async def collect(event: EventRecord) -> None:
        events.append(event)

    publisher = DnsPublisher(collect)
    await publisher.publish_once(config)
    return CycleOutcome(publisher.status, events)


def main() -> int:
    """The child's entry point: one request in, one outcome out."""
    handler = _JsonLines()
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    try:
        data = sys.stdin.buffer.read(REQUEST_MOST + 1)
        if len(data) > REQUEST_MOST:
            raise ValueError(f"the request is over {REQUEST_MOST} bytes")
        request = msgspec.json.decode(data, type=CycleRequest)
        outcome = asyncio.run(run_cycle(request))
    except Exception:  # reported to the host, which logs a failed cycle (12293)
        log.exception("DNS publishing cycle failed")
        return 1
    if outcome is None:
        return NOT_CONFIGURED
    sys.stdout.buffer.write(msgspec.json.encode(outcome))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
