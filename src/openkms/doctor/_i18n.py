"""Doctor text that is English in JSON and the reader's language on screen.

A finding is data: its ``--json`` form must be the same whatever the language, so its
``evidence``, ``meaning`` and ``fix`` hold English. They hold it as a :class:`Text`, a ``str``
that also remembers its template and values: JSON, equality and ``str()`` see the English,
and :func:`shown` (the report's renderer) translates the template and the values it holds when
the finding is printed for a person::

    Text(N_("Below {n}: no client can activate yet."), n=5)     # "Below 5: ..." in JSON
    shown(meaning)                                             # "En dessous de 5 : ..."

A template that is not in the catalogs (``"{where}: {line}"``) is kept as it is, with its
values shown in the language. Plain ``str`` values (a quoted slmgr line, a path, a check name)
are never translated. :class:`Stamp` is a date the same way: ISO in JSON, the language's date
form on screen.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, Self, TypeVar

from openkms.errors import OpenKMSError
from openkms.i18n import DEFAULT_LANGUAGE, _, current_language, language_scope
from openkms.localformat import format_date, format_number, format_timestamp

__all__ = [
    "Decimal",
    "Stamp",
    "Text",
    "built_in_english",
    "built_in_english_async",
    "error_words",
    "joined",
    "shown",
]

P = ParamSpec("P")
R = TypeVar("R")


class Text(str):
    """English text (the ``str`` itself) with the template and values it was made from."""

    template: str
    values: dict[str, object]

    def __new__(cls, template: str, /, **values: object) -> Self:
        """``template.format(**values)`` in English; a template without values is kept as is
        (so a message with literal braces, or one marked elsewhere, needs no escaping)."""
        english = template.format(**{k: str(v) for k, v in values.items()}) if values else template
        self = super().__new__(cls, english)
        self.template = template
        self.values = values
        return self

    def localized(self) -> str:
        """The text in the current language (its values too)."""
        translated = _(self.template)
        if not self.values:
            return translated
        return translated.format(**{k: shown(v) for k, v in self.values.items()})


class Stamp(str):
    """A UTC time: ``english`` (the form JSON always had) here, the language's form on screen."""

    epoch: float
    with_time: bool

    def __new__(cls, epoch: float, english: str, *, with_time: bool = True) -> Self:
        """``english`` is how English prints it (``2026-11-29 16:40 UTC``)."""
        self = super().__new__(cls, english)
        self.epoch = epoch
        self.with_time = with_time
        return self

    @classmethod
    def utc(cls, epoch: float, pattern: str, *, with_time: bool = True) -> Stamp:
        """A stamp whose English form is ``strftime(pattern)`` of the UTC time."""
        english = dt.datetime.fromtimestamp(epoch, dt.UTC).strftime(pattern)
        return cls(epoch, english, with_time=with_time)

    def localized(self) -> str:
        """``29/11/2026 16:40:00 UTC`` in French, ``29.11.2026`` (a date) in German."""
        if current_language() == DEFAULT_LANGUAGE:
            return str(self)
        return format_timestamp(self.epoch) if self.with_time else format_date(self.epoch)


class Decimal(str):
    """A decimal number: ``1.5`` here (and in JSON), ``1,5`` on a French screen."""

    value: float
    digits: int

    def __new__(cls, value: float, digits: int = 1) -> Self:
        """``value`` with ``digits`` places."""
        self = super().__new__(cls, f"{value:.{digits}f}")
        self.value = value
        self.digits = digits
        return self

    def localized(self) -> str:
        """The number with the language's decimal separator."""
        return format_number(self.value, self.digits)


def shown(value: object) -> str:
    """``value`` for a person: a :class:`Text`, :class:`Stamp` or :class:`Decimal` in the
    current language,
    anything else as it is (quoted evidence stays as it was read)."""
    if isinstance(value, Text | Stamp | Decimal):
        if current_language() == DEFAULT_LANGUAGE:
            return str(value)
        return value.localized()
    return str(value)


def joined(items: list[str], separator: str = ", ") -> Text:
    """``items`` joined by ``separator``, each shown in the language when printed."""
    names = [f"item{index}" for index in range(len(items))]
    template = separator.join("{" + name + "}" for name in names)
    return Text(template, **dict(zip(names, items, strict=True)))


def built_in_english(function: Callable[P, R]) -> Callable[P, R]:
    """Run a check in English: the errors of the layers below it (translated where they are
    raised) then give English findings, so the ``--json`` report is the same in every
    language; :class:`Text` is translated when the report is rendered, not here."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with language_scope(DEFAULT_LANGUAGE):
            return function(*args, **kwargs)

    return wrapper


def built_in_english_async(
    function: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """:func:`built_in_english` for a coroutine function."""

    @functools.wraps(function)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with language_scope(DEFAULT_LANGUAGE):
            return await function(*args, **kwargs)

    return wrapper


def error_words(exc: OpenKMSError) -> tuple[str, str]:
    """An error's message and fix for a finding (raised in English by a check): the words of
    its result code become :class:`Text`, shown in the reader's language; others stay."""
    info = exc.code.info
    message = Text(info.message) if exc.message == info.message else exc.message
    fix = Text(info.fix) if exc.fix == info.fix else exc.fix
    return message, fix
