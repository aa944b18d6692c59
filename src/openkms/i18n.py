"""Translations: the language of a process or a request, and ``_()`` to translate a message.

English is the source language; French and German come from gettext catalogs compiled into
``openkms/locale/<lang>/LC_MESSAGES/openkms.mo`` (sources and tooling: ``scripts/i18n.py``,
docs/i18n.md). Only text for people is translated: JSON, CSV, result codes, event fields and
machine-readable names never are.

Mark a message with ``_()`` where it is shown, or with ``N_()`` where it is defined at import
time (a table, a constant) and translate it with ``_()`` when it is shown::

    _("Current count: {count}").format(count=count)
    LABELS = {"licensed": N_("Licensed")}      ...      _(LABELS[key])

Never translate an f-string (the catalogs cannot hold it): put the values in after ``_()``.

The language is, in order: the one set for the current context (:func:`language_scope`, e.g.
one dashboard request), else the process's (:func:`use_language`, set once by the command line
from ``--lang`` or the environment), else English. Standard library only: the embeddable client
imports this module.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import gettext
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGE_NAMES",
    "LOCALE_DIR",
    "SUPPORTED_LANGUAGES",
    "N_",
    "_",
    "current_language",
    "gettext_for",
    "language_from_environment",
    "language_scope",
    "negotiate",
    "ngettext",
    "normalize_language",
    "pgettext",
    "use_language",
]

DEFAULT_LANGUAGE = "en"
SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "fr", "de")
# Each language in its own words, for the dashboard's switcher and ``--lang`` help.
LANGUAGE_NAMES: Mapping[str, str] = {"en": "English", "fr": "Français", "de": "Deutsch"}
DOMAIN = "openkms"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

# The process's language (set once by the command line); a dict, so no ``global`` is needed.
_process = {"language": DEFAULT_LANGUAGE}
_scope: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "openkms_language", default=None
)


def normalize_language(value: str | None) -> str | None:
    """``fr_FR.UTF-8``, ``fr-CA``, ``FR`` → ``fr``; ``C``/``POSIX``/unknown → None."""
    if not value:
        return None
    code = value.strip().replace("-", "_").split(".")[0].split("@")[0].split("_")[0].lower()
    return code if code in SUPPORTED_LANGUAGES else None


def language_from_environment(environ: Mapping[str, str] | None = None) -> str:
    """The language of ``LC_ALL``, else ``LC_MESSAGES``, else ``LANG`` (as gettext reads them).

    The first variable that is set decides, as the C library does: ``LC_ALL=C`` means English
    even if ``LANG=fr_FR.UTF-8``. A language OpenKMS has no catalog for means English.
    """
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            return normalize_language(value) or DEFAULT_LANGUAGE
    return DEFAULT_LANGUAGE


def use_language(value: str | None = None) -> str:
    """Set the process's language from ``value`` (``--lang``) or the environment; return it.

    ``value`` may be ``fr``, ``de_DE.UTF-8``, ``en``...; an unsupported one raises ValueError
    naming the supported ones (the command line turns it into a usage error).
    """
    if value:
        code = normalize_language(value)
        if code is None:
            supported = ", ".join(SUPPORTED_LANGUAGES)
            raise ValueError(f"unsupported language {value!r} (supported: {supported})")
    else:
        code = language_from_environment()
    _process["language"] = code
    return code


def current_language() -> str:
    """The language text is translated into here and now."""
    return _scope.get() or _process["language"]


@contextlib.contextmanager
def language_scope(value: str | None) -> Iterator[str]:
    """Translate into ``value`` (normalized; English if unsupported) inside the ``with``."""
    code = normalize_language(value) or DEFAULT_LANGUAGE
    token = _scope.set(code)
    try:
        yield code
    finally:
        _scope.reset(token)


@functools.cache
def gettext_for(language: str) -> gettext.NullTranslations:
    """The compiled catalog of ``language`` (a null one for English or a missing file)."""
    if language == DEFAULT_LANGUAGE:
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)


def _(message: str) -> str:
    """``message`` in the current language (itself if it has no translation)."""
    return gettext_for(current_language()).gettext(message)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    """Mark ``message`` for the catalogs without translating it (translate where shown)."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for ``n``, in the current language."""
    return gettext_for(current_language()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """``message`` in the current language, told apart from the same words in another
    ``context`` (a short label that a language translates two ways)."""
    return gettext_for(current_language()).pgettext(context, message)


def negotiate(accept_language: str | None) -> str:
    """The best supported language of an HTTP ``Accept-Language`` header (English if none).

    ``fr-CH, fr;q=0.9, en;q=0.8, *;q=0.5`` → ``fr``. Malformed parts are skipped.
    """
    best, best_q = DEFAULT_LANGUAGE, 0.0
    for position, part in enumerate((accept_language or "")[:1024].split(",")[:32]):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _eq, number = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(number)
                except ValueError:
                    quality = 0.0
        code = normalize_language(tag)
        if code is None or not 0.0 < quality <= 1.0:
            continue
        # Equal quality: the earlier tag wins (the position breaks ties).
        score = quality - position * 1e-6
        if score > best_q:
            best, best_q = code, score
    return best
