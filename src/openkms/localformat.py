"""Dates and numbers for people, in the current language (Babel's CLDR data).

Human output only: JSON, CSV and logs keep ISO 8601 UTC times and plain integers. English
keeps the forms OpenKMS always printed (``2026-11-29 16:40:00 UTC``, ``1,234``), so scripts
that read English text are not broken; French and German print as their administrators'
systems do (``29/11/2026 16:40:00 UTC``, ``29.11.2026 16:40:00 UTC``; ``1 234``, ``1.234``).
"""

from __future__ import annotations

import datetime as dt

from openkms.i18n import current_language

__all__ = ["format_count", "format_date", "format_number", "format_timestamp"]

# The date as the language writes it with a four-digit year (CLDR's short dates have two in
# German), and the 24-hour time; English keeps ISO 8601.
_DATE_PATTERNS = {"en": "%Y-%m-%d", "fr": "%d/%m/%Y", "de": "%d.%m.%Y"}


def _pattern(language: str) -> str:
    return _DATE_PATTERNS.get(language, _DATE_PATTERNS["en"])


def format_timestamp(epoch: float, *, zone: bool = True) -> str:
    """A Unix time as a UTC date and time: ``29/11/2026 16:40:00 UTC`` in French."""
    when = dt.datetime.fromtimestamp(epoch, dt.UTC)
    text = when.strftime(f"{_pattern(current_language())} %H:%M:%S")
    return f"{text} UTC" if zone else text


def format_date(epoch: float) -> str:
    """A Unix time's UTC date: ``29.11.2026`` in German."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime(_pattern(current_language()))


def _decimal(value: float, pattern: str | None = None) -> str:
    # Babel's number data (about 4 MiB of RSS) is loaded only by a process that prints a
    # number for people, never by a host serving clients (docs/architecture.md).
    from babel.numbers import format_decimal  # noqa: PLC0415

    return str(format_decimal(value, format=pattern, locale=current_language()))


def format_count(value: int) -> str:
    """An integer with the language's grouping: ``1,234,567``, ``1 234 567``, ``1.234.567``."""
    return _decimal(value)


def format_number(value: float, digits: int = 1) -> str:
    """A decimal with ``digits`` places and the language's separators: ``-1,5`` in French."""
    pattern = "#,##0." + "0" * digits if digits > 0 else "#,##0"
    return _decimal(value, pattern)
