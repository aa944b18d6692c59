"""Query parameters of the admin API, parsed strictly: a bad one is a clear 400."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Final

from multidict import MultiDict, MultiMapping

from openkms.core.license import LicenseState
from openkms.store.base import CLIENT_SORTS, ClientSearch, EventSearch

__all__ = ["BadParameterError", "Params", "client_search", "event_search", "export_format"]

MAX_LIMIT: Final = 1000
CLIENT_PARAMS: Final = frozenset(
    {"product", "state", "seen_since", "seen_before", "q", "sort", "order", "limit", "offset"}
)
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
                unknown[0], f"unknown parameter {unknown[0]!r}; expected one of {sorted(allowed)}"
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
        try:
            number = int(value)
        except ValueError:
            raise BadParameterError(name, f"{name} must be a whole number, got {value!r}") from None
        if not low <= number <= high:
            raise BadParameterError(name, f"{name} must be between {low} and {high}, got {number}")
        return number

    def time(self, name: str) -> int | None:
        """Epoch seconds, or an ISO 8601 date or time (UTC unless it says otherwise)."""
        value = self.text(name)
        if value is None:
            return None
        if value.lstrip("-").isdigit():
            return int(value)
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise BadParameterError(
                name, f"{name} must be epoch seconds or ISO 8601 (2026-01-31T12:00Z), got {value!r}"
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return int(parsed.timestamp())

    def choice(self, name: str, choices: Sequence[str], default: str) -> str:
        """One of ``choices``."""
        value = self.text(name) or default
        if value not in choices:
            raise BadParameterError(name, f"{name} must be one of {list(choices)}, got {value!r}")
        return value

    def flag(self, name: str) -> bool:
        """true/false, 1/0, yes/no."""
        value = (self.text(name) or "false").lower()
        if value not in _BOOLEANS:
            raise BadParameterError(name, f"{name} must be true or false, got {value!r}")
        return _BOOLEANS[value]

    def integers(self, name: str) -> tuple[int, ...]:
        """Repeated or comma-separated whole numbers."""
        out: list[int] = []
        for value in self._query.getall(name, []):
            for part in value.split(","):
                if not part.strip():
                    continue
                try:
                    out.append(int(part))
                except ValueError:
                    raise BadParameterError(
                        name, f"{name} must be whole numbers, got {part.strip()!r}"
                    ) from None
        return tuple(out)


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
    if value.isdigit() and int(value) in names.values():
        return int(value)
    raise BadParameterError("state", f"state must be one of {sorted(names)} or 0..6, got {value!r}")


def client_search(
    query: MultiMapping[str], application_id: str | None, *, paged: bool = True
) -> ClientSearch:
    """``/api/clients`` parameters -> ClientSearch."""
    params = Params(query, CLIENT_PARAMS if paged else CLIENT_PARAMS - {"limit", "offset"})
    since, before = params.time("seen_since"), params.time("seen_before")
    if since is not None and before is not None and since >= before:
        raise BadParameterError("seen_before", "seen_before must be later than seen_since")
    return ClientSearch(
        application_id=application_id,
        activation_id=params.text("product"),
        license_status=license_status(params.text("state")),
        seen_since=since,
        seen_before=before,
        text=params.text("q"),
        sort=params.choice("sort", CLIENT_SORTS, "last_seen"),
        descending=params.choice("order", ("asc", "desc"), "desc") == "desc",
        limit=params.integer("limit", 50, 1, MAX_LIMIT),
        offset=params.integer("offset", 0, 0, 10**9),
    )


def _cursor(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    time_text, _, seq_text = value.partition(":")
    if not (time_text.isdigit() and seq_text.isdigit()):
        raise BadParameterError("before", f"before must be a cursor TIME:SEQ, got {value!r}")
    return int(time_text), int(seq_text)


def event_search(query: MultiMapping[str]) -> EventSearch:
    """``/api/events`` parameters -> EventSearch."""
    params = Params(query, EVENT_PARAMS)
    since, until = params.time("since"), params.time("until")
    if since is not None and until is not None and since > until:
        raise BadParameterError("until", "until must not be earlier than since")
    return EventSearch(
        event_ids=params.integers("id"),
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
        raise BadParameterError("format", f"format must be csv or json, got {fmt!r}")
    rest: MultiDict[str] = MultiDict((k, v) for k, v in query.items() if k != "format")
    return fmt, rest
