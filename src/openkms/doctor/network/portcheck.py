"""``doctor port HOST[:PORT]``: the guides' telnet test, then an uncounted OpenKMS probe."""

from __future__ import annotations

import time
from collections.abc import Callable

from openkms._address import parse_address
from openkms.core import settings
from openkms.doctor._i18n import built_in_english_async
from openkms.doctor.findings import Finding, Procedure
from openkms.doctor.network._findings import probe_findings
from openkms.doctor.network.probe import probe

__all__ = ["check_port"]


@built_in_english_async
async def check_port(
    address: str,
    *,
    timeout: float = 3.0,
    application_id: str = "",
    clock: Callable[[], float] = time.time,
) -> list[Finding]:
    """TCP connect (refused 0x8007274D, timeout 0x800705B4, unreachable 0x800706BA), then
    what the peer is: an OpenKMS host (version, activation, count, port, clock) or not."""
    host, port = parse_address(address, settings.DEFAULT_PORT)
    result = await probe(host, port, timeout, application_id=application_id, clock=clock)
    return probe_findings(result, Procedure.PORT)
