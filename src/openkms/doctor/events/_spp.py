"""Windows' own licensing events: what the Software Protection service (provider
``Microsoft-Windows-Security-SPP``, Application log) writes besides the KMS events.

Only meanings Microsoft documents, or Windows' own message text shows, are read:

- **8198** "License Activation (slui.exe) failed with the following error code:" then
  ``hr=0x...`` and the command line: the result of a failed online activation, MAK or KMS.
  Its first ``<Data>`` is ``hr=0xC004F074``, the second the command-line arguments.
- **8200** "License acquisition failure details." then ``hr=0x...``, and **8208**
  "Acquisition of genuine ticket failed (hr=0x...) for template Id {...}" (KB 2958281: a
  genuine ticket could not be fetched, mostly for want of Internet access).
- Informational, counted and never read as a failure: 900/902/903 (the service starting,
  started, stopped), 1003 (licensing status check completed: its data lists status codes per
  license, 0xC004F014 and so on, which are not failures), 1004, 1007, 1009, 1011, 1013, 1016
  (a license or certificate installed or acquired), 1025/1036/1037 (grace or validity period
  started, validity left), 1033/1034 (policy definitions), 1040 (hardware changed), 1066/1067
  (service objects initialised, genuine information set), 16384 (a restart of the service
  scheduled), 16394 (offline downlevel migration succeeded).

Any other event of the provider (8196, 8230, 1058, 12304...) is of unknown meaning here: it is
counted by ID, never interpreted. The KMS events 12288-12294 the provider also writes are read
as KMS events (:mod:`._model`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Final

from openkms.doctor._i18n import Text, joined
from openkms.doctor.events._model import KMS_EVENT_IDS, WindowsEvent
from openkms.i18n import N_

__all__ = [
    "SPP_FAILURES",
    "SPP_INFORMATIONAL",
    "is_spp_provider",
    "make_spp_event",
    "read_as_spp",
    "spp_code",
    "spp_counts_text",
]

# Events carrying a failure code, with Windows' own message (English) naming them.
SPP_FAILURES: Final[dict[int, str]] = {
    8198: N_("License Activation (slui.exe) failed"),
    8200: N_("License acquisition failed"),
    8208: N_("Acquisition of genuine ticket failed"),
}
SPP_INFORMATIONAL: Final[frozenset[int]] = frozenset(
    {900, 902, 903, 1003, 1004, 1007, 1009, 1011, 1013, 1016, 1025, 1033, 1034, 1036, 1037}
    | {1040, 1066, 1067, 16384, 16394}
)
# "hr=0x800704CF", "hr = 0xC004F074", "(hr=0x80072EE7)": the code, in any display language.
_HR = re.compile(r"\bhr\s*=\s*(0x[0-9A-Fa-f]{1,8})(?![0-9A-Fa-f])", re.IGNORECASE)
# A <Data> that is the bare code (some exports drop the "hr=").
_BARE = re.compile(r"^\s*(0x[0-9A-Fa-f]{8})\s*$")
# Only the start of a message or data value is searched: the code is on its first lines.
_SCANNED = 2048
_VALUES = 8
_LISTED = 30
# The provider's names, whole: any other source ending so ("Evil-Security-SPP") is another
# program writing to the Application log, and its events are not Windows' own.
_PROVIDER_NAMES: Final[frozenset[str]] = frozenset(
    {"microsoft-windows-security-spp", "security-spp"}
)


def is_spp_provider(name: str | None) -> bool:
    """``Microsoft-Windows-Security-SPP`` or ``Security-SPP`` (Event Viewer's short form)."""
    return name is not None and name.strip().lower() in _PROVIDER_NAMES


def spp_code(texts: Iterable[str]) -> int | None:
    """The ``hr=0x...`` failure code of an SPP event's data or message, or None.

    The first values only, and the first characters of each, are searched (bounded work on
    hostile input); a code without the failure bit (``hr=0x0``) is no failure."""
    bare: int | None = None
    for index, text in enumerate(texts):
        if index >= _VALUES:
            break
        head = text[:_SCANNED]
        match = _HR.search(head)
        if match is not None:
            return _failure(int(match.group(1), 16))
        if bare is None and (only := _BARE.match(head)) is not None:
            bare = _failure(int(only.group(1), 16))
    return bare


def _failure(code: int) -> int | None:
    return code if code & 0x80000000 else None


def read_as_spp(event_id: int | None, provider: str | None) -> bool:
    """True for an event of the SPP provider that is not a KMS event (those are read as such)."""
    return (
        event_id is not None
        and event_id & 0xFFFF not in KMS_EVENT_IDS
        and is_spp_provider(provider)
    )


def make_spp_event(
    *,
    source_file: str,
    record: int | None,
    event_id: int,
    time: dt.datetime | None,
    machine: str | None,
    texts: Iterable[str],
    line: int | None = None,
) -> WindowsEvent:
    """An SPP event; the failure code of 8198, 8200 and 8208 is its ``hresult`` field."""
    event_id &= 0xFFFF
    code = spp_code(texts) if event_id in SPP_FAILURES else None
    return WindowsEvent(
        source_file=source_file,
        record=record,
        event_id=event_id,
        time=time,
        machine=machine or None,
        info_fields={} if code is None else {"hresult": f"0x{code:08X}"},
        line=line,
        spp=True,
    )


def spp_counts_text(counts: dict[int, int]) -> str:
    """``Security-SPP event(s) read: 900 x49, 8198 x1 (failure)...``, unknown ones named as
    such; at most the first 30 IDs are listed."""
    shown: list[str] = []
    for event_id in sorted(counts)[:_LISTED]:
        if event_id in SPP_FAILURES:
            shown.append(Text(N_("{id} x{count} (failure)"), id=event_id, count=counts[event_id]))
        elif event_id in SPP_INFORMATIONAL:
            shown.append(f"{event_id} x{counts[event_id]}")
        else:
            shown.append(Text(N_("{id} x{count} (unknown)"), id=event_id, count=counts[event_id]))
    more = len(counts) - _LISTED
    tail = Text(N_(", and {more} more ID(s)"), more=more) if more > 0 else ""
    return Text(
        N_("{total} Security-SPP event(s) read: {counts}{tail}"),
        total=sum(counts.values()),
        counts=joined(shown),
        tail=tail,
    )
