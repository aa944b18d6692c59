"""Event definitions: 12288/12289 (client), 12290/12293/12294 (host), and their Info strings.

OpenKMS's own: 12320 (client clock set back), 12321 (host clock jump), 12330 (host revoked).

Each event's Info is a comma-separated list of values in Microsoft's field order, so that
people (and ``openkms doctor``) read OpenKMS logs exactly like Windows ones.

The machine-readable parts never change with the language: the event ID, the Info string,
its field names, :attr:`EventRecord.message` and :attr:`EventRecord.level` (English, as the
JSON and CSV exports write them). :attr:`EventRecord.description` and :func:`level_label` are
the same in the current language, for people.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence

import msgspec

from openkms.core.codes import ResultCode
from openkms.i18n import N_, _, pgettext

__all__ = [
    "EVENT_FIELDS",
    "EVENT_MESSAGES",
    "NOT_ENOUGH_COUNT",
    "EventRecord",
    "activation_request_event",
    "client_request_event",
    "client_response_event",
    "clock_jump_event",
    "host_revoked_event",
    "event_description",
    "format_client_time",
    "level_label",
    "make_event",
    "parse_info",
    "publish_failed_event",
    "publish_succeeded_event",
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
    # OpenKMS's own client event: the clock was set back beyond the tolerance.
    12320: ("hresult", "seconds_behind", "trusted_time", "client_time"),
    # OpenKMS's own host event: the wall clock jumped against the monotonic clock.
    12321: ("hresult", "seconds"),
    # OpenKMS's own host event: the publisher revoked this host's certificate or host key.
    12330: ("hresult", "certificate_serial", "revoked_at", "reason"),
}

EVENT_MESSAGES: dict[int, str] = {
    12288: N_("The client has sent an activation request to the key management service machine."),
    12289: N_(
        "The client has processed an activation response from the key management service machine."
    ),
    12290: N_("An activation request has been processed."),
    12293: N_("Publishing the Key Management Service (KMS) to DNS in the following domain failed."),
    12294: N_(
        "Publishing the Key Management Service (KMS) to DNS in the following domain succeeded."
    ),
    12320: N_("The system clock is behind the client's trusted time: it was set back."),
    12321: N_("The host's clock jumped against its monotonic clock: the count window moved."),
    12330: N_("The publisher revoked this host's certificate: it refuses activation requests."),
}
"""Each event's fixed message in English (the JSON export's ``message``); translate it with
:func:`event_description` where a person reads it."""


def event_description(event_id: int) -> str:
    """The fixed message of ``event_id`` in the current language ('' for an unknown ID)."""
    message = EVENT_MESSAGES.get(event_id)
    return _(message) if message else ""


def level_label(level: str) -> str:
    """An event level (``Information``, ``Warning``, ``Error``) as Event Viewer prints it in
    the current language."""
    labels = {
        "Information": pgettext("event level", "Information"),
        "Warning": pgettext("event level", "Warning"),
        "Error": pgettext("event level", "Error"),
    }
    return labels.get(level, level)


class EventRecord(msgspec.Struct, frozen=True):
    """One logged event: its ID, when it was logged (epoch seconds) and its Info string.

    ``hresult`` is a typed copy of the HRESULT the Info string leads with, set by whoever
    builds the event (None for events without one), so that nobody parses it back.
    """

    event_id: int
    time: int
    info: str
    seq: int = 0
    hresult: int | None = None

    @property
    def message(self) -> str:
        """The event's fixed message in English (machine output: JSON, the dashboard's API)."""
        return EVENT_MESSAGES.get(self.event_id, "")

    @property
    def description(self) -> str:
        """The event's fixed message in the current language (for people)."""
        return event_description(self.event_id)

    @property
    def level(self) -> str:
        """'Error' for a failing HRESULT or a failed publish, else 'Information'."""
        if self.event_id == 12293:
            return "Error"
        if self.hresult is not None:
            return "Warning" if self.hresult != 0 else "Information"
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


# -- host events -------------------------------------------------------------------------


def activation_request_event(
    time: int,
    *,
    result: ResultCode,
    n_policy: int,
    machine_name: str,
    cmid: str,
    client_time: int,
    vm: bool,
    license_status: int,
    minutes_to_expiration: int,
    activation_id: str,
) -> EventRecord:
    """The 12290 event of one activation request the host has judged ``result``.

    The client's values go into the Info string as received: commas in text are blanked (they
    would split the field), a client time outside the plausible range is written ``0``.
    """
    minute = client_time - client_time % 60
    values = (
        f"0x{int(result):X}" if result else "0x0",
        f"0x{n_policy:X}",
        machine_name.replace(",", " "),
        cmid,
        _client_time_text(minute) if 0 < client_time < 2**40 else "0",
        "1" if vm else "0",
        str(license_status),
        str(minutes_to_expiration),
        activation_id.replace(",", " "),
    )
    return EventRecord(12290, time, ",".join(values), 0, int(result))


def publish_failed_event(time: int, result: ResultCode, domain: str) -> EventRecord:
    """The 12293 event: publishing the SRV record in ``domain`` failed with ``result``."""
    return EventRecord(12293, time, f"{result.hex},{domain}", 0, int(result))


def publish_succeeded_event(time: int, domain: str) -> EventRecord:
    """The 12294 event: the SRV record is published in ``domain``."""
    return EventRecord(12294, time, domain, 0, int(ResultCode.OK))


def clock_jump_event(time: int, seconds: int) -> EventRecord:
    """The 12321 event: the host's wall clock moved ``seconds`` against its monotonic clock."""
    code = ResultCode.CLOCK_SKEW
    return EventRecord(12321, time, f"{code.hex},{seconds:+d}", 0, int(code))


def host_revoked_event(time: int, serial: str, revoked_at: int, reason: str) -> EventRecord:
    """The 12330 event: the installed revocation list revokes this host's certificate."""
    code = ResultCode.KEY_BLOCKED
    values = (code.hex, serial, format_client_time(revoked_at), reason.replace(",", " "))
    return EventRecord(12330, time, ",".join(values), 0, int(code))


@functools.lru_cache(maxsize=4096)
def _client_time_text(minute: int) -> str:
    """format_client_time, cached: clients' clocks mostly fall in the same few minutes."""
    return format_client_time(minute)


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
