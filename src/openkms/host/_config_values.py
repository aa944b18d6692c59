"""The values of the host's configuration: each parser takes a TOML value, an environment
string or a flag's value and returns the typed value, or raises ValueError saying what it
expected (the loader adds the key, file and line)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from openkms._address import parse_address

__all__ = [
    "Value",
    "address",
    "addresses",
    "boolean",
    "choice",
    "count",
    "ip_addresses",
    "optional_text",
    "positive_int",
    "seconds",
    "text",
]

Value = str | int | float | bool | tuple[str, ...] | None


def text(value: object) -> str:
    """A string."""
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def optional_text(value: object) -> str | None:
    """A string; empty means unset (None)."""
    return text(value).strip() or None


def positive_int(value: object) -> int:
    """A whole number of at least 1."""
    if isinstance(value, str):
        value = int(value.strip()) if value.strip().lstrip("-").isdigit() else value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("expected a whole number of at least 1")
    return value


def count(value: object) -> int:
    """A whole number of at least 0."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("expected a whole number of at least 0")
    return value


def seconds(value: object) -> float:
    """Seconds between 0.1 and 86400."""
    try:
        seconds = float(value) if isinstance(value, str | int | float) else None
    except ValueError:
        seconds = None
    if seconds is None or isinstance(value, bool) or not 0.1 <= seconds <= 86400:
        raise ValueError("expected seconds between 0.1 and 86400")
    return seconds


def boolean(value: object) -> bool:
    """true/false (also yes/no, 1/0 in the environment)."""
    if isinstance(value, bool):
        return value
    words = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
    if isinstance(value, str) and value.strip().lower() in words:
        return words[value.strip().lower()]
    raise ValueError("expected true or false")


def choice(choices: tuple[str, ...]) -> Callable[[object], str]:
    """A parser of one of ``choices`` (any case), returned as spelled in ``choices``."""

    def parse(value: object) -> str:
        given = text(value).strip()
        match = next((c for c in choices if c.lower() == given.lower()), None)
        if match is None:
            raise ValueError("expected one of " + ", ".join(choices))
        return match

    return parse


def _items(value: object, what: str) -> list[object]:
    """A TOML list (or a flag's values), or comma-separated items in the environment."""
    if isinstance(value, str):
        return [part for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return list(value)
    raise ValueError(f"expected a list of {what}")


def addresses(value: object) -> tuple[str, ...]:
    """ADDR:PORT strings: a TOML list, or comma-separated in the environment."""
    given = tuple(text(item).strip() for item in _items(value, "ADDR:PORT strings"))
    for one in given:
        parse_address(one, 1688)
    return given


def names(value: object) -> tuple[str, ...]:
    """Host names: a TOML list, or comma-separated in the environment."""
    return tuple(text(item).strip().lower() for item in _items(value, "host names"))


def address(value: object) -> str:
    """One ADDR:PORT."""
    given = text(value).strip()
    parse_address(given, 8080)
    return given


def ip_addresses(value: object) -> tuple[str, ...]:
    """IP addresses (no port): a TOML list, or comma-separated in the environment."""
    given = tuple(text(item).strip().strip("[]") for item in _items(value, "IP addresses"))
    for one in given:
        try:
            ipaddress.ip_address(one)
        except ValueError:
            raise ValueError(f"{one!r} is not an IP address") from None
    return given
