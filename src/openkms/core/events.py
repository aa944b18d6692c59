"""Event definitions: 12288/12289 (client), 12290/12293/12294 (host), and their Info strings.

Each event's Info is a comma-separated list of values in Microsoft's field order, so that
people (and ``openkms doctor``) read OpenKMS logs exactly like Windows ones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import msgspec

from openkms.core.codes import ResultCode

__all__ = [
    "EVENT_FIELDS",
    "EVENT_MESSAGES",
    "NOT_ENOUGH_COUNT",
    "EventRecord",
    "client_request_event",
    "client_response_event",
    "format_client_time",
    "make_event",
    "parse_info",
]

EVENT_FIELDS: dict[int, tuple[str, ...]] = {
    12288: (
        "hresult",
        "status_flags",
        "server",
        "cmid",
        "client_time",
        "vm_info",
        "license_status",
        "minutes_to_expiration",
        "activation_id",
        "n_policy",
    ),
    12289: (
        "hresult",
        "status_flags",
        "activated",
        "unused",
        "current_count",
        "activation_interval",
        "renewal_interval",
        "client_time",
    ),
    12290: (
        "hresult",
        "n_policy",
        "machine_name",
        "cmid",
        "client_time",
        "vm_info",
        "license_status",
        "minutes_to_expiration",
        "activation_id",
    ),
    12293: ("hresult", "domain"),
    12294: ("domain",),
}

EVENT_MESSAGES: dict[int, str] = {
    12288: "The client has sent an activation request to the key management service machine.",
    12289: "The client has processed an activation response from the key management service "
    "machine.",
    12290: "An activation request has been processed.",
    12293: "Publishing the Key Management Service (KMS) to DNS in the following domain failed.",
    12294: "Publishing the Key Management Service (KMS) to DNS in the following domain succeeded.",
}


class EventRecord(msgspec.Struct, frozen=True):
    """One logged event: its ID, when it was logged (epoch seconds) and its Info string."""

    event_id: int
    time: int
    info: str
    seq: int = 0
    hresult: int | None = None

    @property
    def message(self) -> str:
        """The event's fixed message."""
        return EVENT_MESSAGES.get(self.event_id, "")

    @property
    def level(self) -> str:
        """'Error' for a failing HRESULT or a failed publish, else 'Information'."""
        if self.event_id == 12293:
            return "Error"
        fields = parse_info(self.event_id, self.info)
        hresult = fields.get("hresult", "0x0")
        return "Warning" if hresult not in ("0x0", "0x00000000") else "Information"

    def fields(self) -> dict[str, str]:
        """The Info values by field name."""
        return parse_info(self.event_id, self.info)


def format_client_time(epoch: int) -> str:
    """Time as the Info strings write it: ``2026/11/21 19:30`` (UTC)."""
    t = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return f"{t.year}/{t.month}/{t.day} {t.hour}:{t.minute:02d}"


def make_event(event_id: int, time: int, values: Sequence[object]) -> EventRecord:
    """Build an event; ``values`` in the field order of ``EVENT_FIELDS[event_id]``."""
    names = EVENT_FIELDS[event_id]
    if len(values) != len(names):
        raise ValueError(f"event {event_id} takes {len(names)} values, got {len(values)}")
    return EventRecord(event_id, time, ",".join(str(v) for v in values))


def parse_info(event_id: int, info: str) -> dict[str, str]:
    """Split an Info string into named fields (extra or missing values are tolerated)."""
    names = EVENT_FIELDS.get(event_id, ())
    values = [v.strip() for v in info.split(",")]
    if event_id == 12293 and len(values) > 2:
        values = [values[0], ",".join(values[1:])]
    return dict(zip(names, values, strict=False))


# -- client events


NOT_ENOUGH_COUNT = 0x04000000
"""The status flag of a 12289 whose host count is below the product's N-policy."""


def _hresult(code: ResultCode) -> str:
    return f"0x{int(code):X}"


def client_request_event(
    *,
    time: int,
    result: ResultCode,
    server: str,
    cmid: str,
    license_status: int,
    minutes_to_expiration: int,
    activation_id: str,
    n_policy: int,
) -> EventRecord:
    """12288: a request sent to ``server`` (HOST:PORT), and whether it got there."""
    values = (
        _hresult(result),
        "0x0",
        server,
        cmid,
        format_client_time(time),
        0,
        license_status,
        minutes_to_expiration,
        activation_id,
        n_policy,
    )
    return msgspec.structs.replace(make_event(12288, time, values), hresult=int(result))


def client_response_event(
    *,
    time: int,
    result: ResultCode,
    activated: bool,
    current_count: int = 0,
    activation_interval: int = 0,
    renewal_interval: int = 0,
) -> EventRecord:
    """12289: a response processed; a host that answered with an error gives no count."""
    flags = NOT_ENOUGH_COUNT if result is ResultCode.COUNT_TOO_LOW else 0
    values = (
        _hresult(result),
        f"0x{flags:X}",
        int(activated),
        0,
        current_count,
        activation_interval,
        renewal_interval,
        format_client_time(time),
    )
    return msgspec.structs.replace(make_event(12289, time, values), hresult=int(result))
