"""Query parameters of the admin API, parsed strictly: a bad one is a clear 400.

Its message and fix are in the request's language (raised inside its ``language_scope``);
the parameter's name and the values quoted stay as they are.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Final

import msgspec
from multidict import MultiDict, MultiMapping

from openkms.core.license import LicenseState
from openkms.i18n import _
from openkms.store.base import CLIENT_SORTS, ClientRecord, ClientSearch, EventSearch

__all__ = [
    "BadParameterError",
    "Params",
    "client_cursor",
    "client_search",
    "event_search",
    "export_format",
]

MAX_LIMIT: Final = 1000
MAX_TIME: Final = 253402300799  # 9999-12-31T23:59:59Z: the last time a date can show
MAX_SEQ: Final = 2**63 - 1
MAX_EVENT_ID: Final = 65535
CLIENT_PARAMS: Final = frozenset(
    {"product", "state", "seen_since", "seen_before", "q", "sort", "order", "limit", "offset"}
    | {"after"}
)
# Sort columns holding text; the others hold whole numbers.
TEXT_SORTS: Final = frozenset({"machine_name", "cmid", "activation_id"})
MAX_CURSOR: Final = 1024  # characters of an ``after`` cursor
EVENT_PARAMS: Final = frozenset({"id", "since", "until", "cmid", "failed", "before", "limit"})


class BadParameterError(ValueError):
    """A parameter the API cannot use; becomes a 400 with a JSON error body (and its fix)."""

    def __init__(self, parameter: str, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.message = message
        self.fix = fix


class Params:
    """Typed access to a request's query string, refusing unknown names."""

    def __init__(self, query: MultiMapping[str], allowed: frozenset[str]) -> None:
        unknown = sorted(set(query) - allowed)
        if unknown:
            raise BadParameterError(
                unknown[0],
                _("unknown parameter {name!r}; expected one of {names}").format(
                    name=unknown[0], names=sorted(allowed)
                ),
            )
        self._query = query

    def text(self, name: str) -> str | None:
        """The value, or None when absent or empty."""
        value = self._query.get(name)
        return value.strip() or None if value is not None else None

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        """A whole number in ``low..high``."""
        value = self.text(name)
        if value is None:
            return default
        return _in_range(name, _integer(name, value), low, high)

    def time(self, name: str) -> int | None:
        """Epoch seconds, or an ISO 8601 date or time (UTC unless it says otherwise)."""
        value = self.text(name)
        if value is None:
            return None
        if _whole(value.lstrip("-")):
            return _in_range(name, _integer(name, value), 0, MAX_TIME)
        try:
            parsed = dt.datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            seconds = int(parsed.timestamp())
        except (ValueError, OverflowError):
            raise BadParameterError(
                name,
                _(
                    "{name} must be epoch seconds or ISO 8601 (2026-01-31T12:00Z), got {value!r}"
                ).format(name=name, value=value[:40]),
            ) from None
        return _in_range(name, seconds, 0, MAX_TIME)

    def choice(self, name: str, choices: Sequence[str], default: str) -> str:
        """One of ``choices``."""
        value = self.text(name) or default
        if value not in choices:
            raise BadParameterError(
                name,
                _("{name} must be one of {choices}, got {value!r}").format(
                    name=name, choices=list(choices), value=value[:40]
                ),
            )
        return value

    def flag(self, name: str) -> bool:
        """true/false, 1/0, yes/no."""
        value = (self.text(name) or "false").lower()
        if value not in _BOOLEANS:
            raise BadParameterError(
                name,
                _("{name} must be true or false, got {value!r}").format(
                    name=name, value=value[:40]
                ),
            )
        return _BOOLEANS[value]

    def integers(self, name: str, low: int, high: int) -> tuple[int, ...]:
        """Repeated or comma-separated whole numbers, each in ``low..high``."""
        out: list[int] = []
        for value in self._query.getall(name, []):
            for part in value.split(","):
                if not part.strip():
                    continue
                out.append(_in_range(name, _integer(name, part.strip()), low, high))
        return tuple(out)


def _whole(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` also takes "²", which ``int`` refuses)."""
    return text.isascii() and text.isdigit()


def _integer(name: str, text: str) -> int:
    """``int(text)``, or a 400 (a number too long for ``int`` included)."""
    try:
        return int(text)
    except ValueError:
        shown = text if len(text) <= 30 else f"{text[:30]}..."
        raise BadParameterError(
            name, _("{name} must be a whole number, got {value!r}").format(name=name, value=shown)
        ) from None


def _in_range(name: str, number: int, low: int, high: int) -> int:
    """``number``, or a 400 naming the allowed range."""
    if not low <= number <= high:
        shown = str(number) if len(str(number)) <= 30 else f"{str(number)[:30]}..."
        raise BadParameterError(
            name,
            _("{name} must be between {low} and {high}, got {value}").format(
                name=name, low=low, high=high, value=shown
            ),
        )
    return number


_BOOLEANS: Final[Mapping[str, bool]] = {
    "true": True,
    "1": True,
    "yes": True,
    "false": False,
    "0": False,
    "no": False,
}


def license_status(value: str | None) -> int | None:
    """A license status by name (``licensed``) or number (``1``)."""
    if value is None:
        return None
    names = {state.name.lower(): int(state) for state in LicenseState}
    if value.lower() in names:
        return names[value.lower()]
    if _whole(value) and len(value) < 3 and int(value) in names.values():
        return int(value)
    raise BadParameterError(
        "state",
        _("state must be one of {names} or 0..6, got {value!r}").format(
            names=sorted(names), value=value[:40]
        ),
    )


def client_search(
    query: MultiMapping[str], application_id: str | None, *, paged: bool = True
) -> ClientSearch:
    """``/api/clients`` parameters -> ClientSearch."""
    params = Params(query, CLIENT_PARAMS if paged else CLIENT_PARAMS - {"limit", "offset", "after"})
    since, before = params.time("seen_since"), params.time("seen_before")
    if since is not None and before is not None and since >= before:
        raise BadParameterError("seen_before", _("seen_before must be later than seen_since"))
    sort = params.choice("sort", CLIENT_SORTS, "last_seen")
    descending = params.choice("order", ("asc", "desc"), "desc") == "desc"
    after = _client_after(params.text("after") if paged else None, sort, descending)
    if after is not None and params.text("offset") is not None:
        raise BadParameterError("after", _("give either after (a cursor) or offset, not both"))
    return ClientSearch(
        application_id=application_id,
        activation_id=params.text("product"),
        license_status=license_status(params.text("state")),
        seen_since=since,
        seen_before=before,
        text=params.text("q"),
        sort=sort,
        descending=descending,
        limit=params.integer("limit", 50, 1, MAX_LIMIT),
        offset=params.integer("offset", 0, 0, 10**9),
        after=after,
    )


class _ClientCursor(msgspec.Struct, array_like=True, frozen=True):
    """What an ``after`` cursor holds: the order it was made for and the last client's key."""

    sort: str
    descending: bool
    value: int | str
    application_id: str
    cmid: str


def client_cursor(search: ClientSearch, client: ClientRecord) -> str:
    """The ``after`` cursor of the page following the one ending with ``client``: opaque
    text (URL-safe base64 of a JSON array)."""
    cursor = _ClientCursor(
        search.sort,
        search.descending,
        getattr(client, search.sort),
        client.application_id,
        client.cmid,
    )
    return base64.urlsafe_b64encode(msgspec.json.encode(cursor)).decode().rstrip("=")


def _client_after(
    value: str | None, sort: str, descending: bool
) -> tuple[int | str, str, str] | None:
    """The ``after`` cursor's key, checked against the request's order; a 400 otherwise."""
    if value is None:
        return None
    fix = _("Pass the 'next' value of the previous page unchanged, with the same sort and order.")
    try:
        if len(value) > MAX_CURSOR:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        cursor = msgspec.json.decode(raw, type=_ClientCursor)
    except (ValueError, binascii.Error, msgspec.DecodeError):
        raise BadParameterError("after", _("after is not a cursor of this API"), fix=fix) from None
    if (cursor.sort, cursor.descending) != (sort, descending) or isinstance(cursor.value, str) != (
        sort in TEXT_SORTS
    ):
        raise BadParameterError(
            "after", _("after was made for another sort or order than this request's"), fix=fix
        )
    return cursor.value, cursor.application_id, cursor.cmid


def _cursor(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    time_text, _sep, seq_text = value.partition(":")
    if not (_whole(time_text) and _whole(seq_text)):
        raise BadParameterError(
            "before",
            _("before must be a cursor TIME:SEQ, got {value!r}").format(value=value[:40]),
        )
    time_value = _in_range("before", _integer("before", time_text), 0, MAX_TIME)
    return time_value, _in_range("before", _integer("before", seq_text), 0, MAX_SEQ)


def event_search(query: MultiMapping[str]) -> EventSearch:
    """``/api/events`` parameters -> EventSearch."""
    params = Params(query, EVENT_PARAMS)
    since, until = params.time("since"), params.time("until")
    if since is not None and until is not None and since > until:
        raise BadParameterError("until", _("until must not be earlier than since"))
    return EventSearch(
        event_ids=params.integers("id", 0, MAX_EVENT_ID),
        since=since,
        until=until,
        cmid=params.text("cmid"),
        failed=params.flag("failed"),
        before=_cursor(params.text("before")),
        limit=params.integer("limit", 100, 1, MAX_LIMIT),
    )


def export_format(query: MultiMapping[str]) -> tuple[str, MultiMapping[str]]:
    """The ``format`` of an export (csv or json) and the remaining parameters."""

    fmt = query.get("format", "csv")
    if fmt not in ("csv", "json"):
        raise BadParameterError(
            "format", _("format must be csv or json, got {value!r}").format(value=fmt[:40])
        )
    rest: MultiDict[str] = MultiDict((k, v) for k, v in query.items() if k != "format")
    return fmt, rest
