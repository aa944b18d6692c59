"""The dashboard's pages in the reader's language: language choice, HTML and app.js strings.

The HTML pages in ``static/`` are written in English and translated on the server as they
are served (:func:`render_page`): every text node and the ``title``, ``placeholder``,
``aria-label`` and ``label`` attributes go through ``_()``, except inside ``<script>``,
``<style>`` and elements marked with the standard ``translate="no"`` (brand, language names,
format names). An element with ``data-i18n="html"`` is translated as one message, inner
markup included (a sentence with ``<code>`` in it). The same walk feeds the catalogs
(:func:`html_messages`, used by ``scripts/i18n.py``), so what is served is what is extracted.
Server-side rendering means the page arrives whole in its language (no flash of English, the
right ``<html lang>``, the login page translated though it loads no script). Each page is read
and parsed once per process, and translated once per language (``admin._template``): a request
only fills in the switcher's links.

``app.js`` marks its strings with ``_("...")`` and ``ngettext(...)``; the page carries their
translations as JSON in ``<script type="application/json" id="openkms-i18n">``
(:func:`js_catalog`: the compiled catalog's entries for the messages of ``app.js``).

The language is the ``openkms_lang`` cookie when it names a supported language (the header's
switcher sets it), else the best match of ``Accept-Language``, else English. Machine output
(the JSON API's data, CSV and JSON exports, the OpenAPI spec) is never translated.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import msgspec
from babel.messages.extract import extract as babel_extract

from openkms.admin import _template
from openkms.i18n import (
    DEFAULT_LANGUAGE,
    SUPPORTED_LANGUAGES,
    gettext_for,
    language_scope,
    negotiate,
    normalize_language,
)

__all__ = [
    "APP_JS",
    "JS_KEYWORDS",
    "LANG_COOKIE",
    "JsCatalog",
    "cookie_language",
    "html_messages",
    "js_catalog",
    "js_messages",
    "render_page",
    "request_language",
    "safe_target",
]

STATIC: Final = Path(__file__).parent / "static"
APP_JS: Final = STATIC / "app.js"
LANG_COOKIE: Final = "openkms_lang"
# app.js's translation functions, as Babel's javascript extractor takes them.
JS_KEYWORDS: Final[Mapping[str, tuple[int, ...] | None]] = {"_": None, "ngettext": (1, 2)}
_CATALOG_ID: Final = "openkms-i18n"


def cookie_language(value: str | None) -> str | None:
    """The language an ``openkms_lang`` cookie names, or None if it names none we support.

    Only the exact codes (``en``, ``fr``, ``de``) are accepted: the cookie is set by the
    switcher, so anything else was not, and is ignored.
    """
    if value is not None and value in SUPPORTED_LANGUAGES:
        return value
    return None


def request_language(cookie: str | None, accept_language: str | None) -> str:
    """The language of a request: a valid ``openkms_lang`` cookie, else ``Accept-Language``."""
    return cookie_language(cookie) or negotiate(accept_language)


def safe_target(target: str | None) -> str:
    """``target`` if it is a path of this server (``/clients?q=x``), else ``/``.

    Refuses what a browser would take to another site: ``//host``, ``/\\host``, a scheme,
    control characters.
    """
    if (
        not target
        or not target.startswith("/")
        or target[1:2] in ("/", "\\")
        or any(ord(ch) < 0x20 or ch == "\x7f" for ch in target)
    ):
        return "/"
    return target


def html_messages(text: str) -> list[tuple[int, str]]:
    """The messages of a page (line, normalised text), in order: what :func:`render_page`
    translates. ``scripts/i18n.py`` extracts them into the ``admin`` catalog."""
    return list(_template.parse(text).messages)


class JsCatalog(msgspec.Struct):
    """The translations app.js needs: ``messages`` (English → text) and ``plurals``
    (the English singular → the language's forms, for ``ngettext``)."""

    language: str
    messages: dict[str, str]
    plurals: dict[str, list[str]]


@functools.cache
def js_messages() -> tuple[str | tuple[str, str], ...]:
    """The messages app.js marks: a string, or the singular and plural of ``ngettext``."""
    messages: list[str | tuple[str, str]] = []
    with APP_JS.open("rb") as handle:
        for _lineno, message, _comments, _context in babel_extract(
            "javascript", handle, keywords=dict(JS_KEYWORDS)
        ):
            if isinstance(message, str):
                messages.append(message)
            else:
                messages.append((str(message[0]), str(message[1])))
    return tuple(messages)


@functools.cache
def js_catalog(language: str) -> JsCatalog:
    """The catalog app.js uses in ``language`` (empty for English)."""
    translations = gettext_for(language)
    messages: dict[str, str] = {}
    plurals: dict[str, list[str]] = {}
    if language == DEFAULT_LANGUAGE:
        return JsCatalog(language, messages, plurals)
    for message in js_messages():
        if isinstance(message, str):
            messages[message] = translations.gettext(message)
            continue
        singular, plural = message
        # The singular and the plural: French and German have two forms (app.js picks one).
        plurals[singular] = [translations.ngettext(singular, plural, n) for n in (1, 2)]
    return JsCatalog(language, messages, plurals)


def _catalog_script(language: str) -> str:
    data = msgspec.json.encode(js_catalog(language)).decode()
    # Inside <script>, "</" could end the element early: JSON allows "<\/" for it.
    data = data.replace("</", "<\\/")
    return f'<script type="application/json" id="{_CATALOG_ID}">{data}</script>\n'


def render_page(path: Path, language: str, *, switch_next: str = "/") -> str:
    """The page at ``path`` in ``language``, with app.js's catalog before ``</head>``.

    ``switch_next``: where the language switcher's links come back to (this page). The page
    is parsed and translated once per process and language (:func:`_localised`); a request
    only fills in the switcher's links.
    """
    target = safe_target(switch_next)
    return "".join(
        part if isinstance(part, str) else part.render(target)
        for part in _localised(path, normalize_language(language) or DEFAULT_LANGUAGE)
    )


@functools.cache
def _parsed(path: Path) -> _template.Template:
    """The page at ``path``, read and parsed at its first request."""
    return _template.parse(path.read_text(encoding="utf-8"))


@functools.cache
def _localised(path: Path, language: str) -> _template.Localised:
    """The page at ``path`` translated into ``language``, with app.js's catalog."""
    with language_scope(language) as code:
        parts = list(_template.localise(_parsed(path), code))
    for index, part in enumerate(parts):
        if isinstance(part, str) and "</head>" in part:
            parts[index] = part.replace("</head>", _catalog_script(code) + "</head>", 1)
            break
    return tuple(parts)
