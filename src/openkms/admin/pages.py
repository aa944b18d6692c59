"""The dashboard's pages in the reader's language: language choice, HTML and app.js strings.

The HTML pages in ``static/`` are written in English and translated on the server as they
are served (:func:`render_page`): every text node and the ``title``, ``placeholder``,
``aria-label`` and ``label`` attributes go through ``_()``, except inside ``<script>``,
``<style>`` and elements marked with the standard ``translate="no"`` (brand, language names,
format names). An element with ``data-i18n="html"`` is translated as one message, inner
markup included (a sentence with ``<code>`` in it). The same walk feeds the catalogs
(:func:`html_messages`, used by ``scripts/i18n.py``), so what is served is what is extracted.
Server-side rendering means the page arrives whole in its language (no flash of English, the
right ``<html lang>``, the login page translated though it loads no script).

``app.js`` marks its strings with ``_("...")`` and ``ngettext(...)``; the page carries their
translations as JSON in ``<script type="application/json" id="openkms-i18n">``
(:func:`js_catalog`: the compiled catalog's entries for the messages of ``app.js``).

The language is the ``openkms_lang`` cookie when it names a supported language (the header's
switcher sets it), else the best match of ``Accept-Language``, else English. Machine output
(the JSON API's data, CSV and JSON exports, the OpenAPI spec) is never translated.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Final
from urllib.parse import quote

import msgspec
from babel.messages.extract import extract as babel_extract

from openkms.i18n import (
    DEFAULT_LANGUAGE,
    SUPPORTED_LANGUAGES,
    _,
    gettext_for,
    language_scope,
    negotiate,
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
TRANSLATED_ATTRIBUTES: Final = frozenset({"title", "placeholder", "aria-label", "label"})
_UNTRANSLATED_ELEMENTS: Final = frozenset({"script", "style"})
_VOID: Final = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)
_SPACE = re.compile(r"\s+")
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


def _normalise(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


@dataclass(frozen=True, slots=True)
class _Found:
    """A message found in a page, and the line it starts on."""

    lineno: int
    message: str


class _Walker(HTMLParser):
    """Rewrites a page with its messages translated (or, with ``translate`` None, collects
    them). Keeps the markup as written; only text and translated attributes change."""

    def __init__(self, language: str | None, *, switch_next: str = "/") -> None:
        super().__init__(convert_charrefs=True)
        self.language = language
        self.switch_next = switch_next
        self.out: list[str] = []
        self.found: list[_Found] = []
        # One entry per open element: does its content stay untranslated?
        self._frozen: list[tuple[str, bool]] = []
        self._html_unit: tuple[str, int, int, list[str]] | None = None

    @property
    def frozen(self) -> bool:
        return bool(self._frozen) and self._frozen[-1][1]

    def message(self, text: str, lineno: int) -> str:
        """``text`` translated (surrounding space kept); recorded when collecting."""
        core = _normalise(text)
        if not core or not any(ch.isalpha() for ch in core):
            return text
        if self.language is None:
            self.found.append(_Found(lineno, core))
            return text
        translated = _(core)
        if translated == core:  # English, or the same words: the text as written
            return text
        head = text[: len(text) - len(text.lstrip())]
        tail = text[len(text.rstrip()) :]
        return head + translated + tail

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._html_unit is not None:
            self._html_unit[3].append(self.get_starttag_text() or "")
            if tag not in _VOID:
                self._frozen.append((tag, True))
            return
        lineno = self.getpos()[0]
        values = dict(attrs)
        frozen = self.frozen or tag in _UNTRANSLATED_ELEMENTS or values.get("translate") == "no"
        changed = False
        if not frozen:
            for index, (name, value) in enumerate(attrs):
                if name in TRANSLATED_ATTRIBUTES and value:
                    new = self.message(value, lineno)
                    changed = changed or new != value
                    attrs[index] = (name, new)
        if self.language is not None:
            changed = self._rewrite(tag, attrs) or changed
        text = _start_tag(tag, attrs) if changed else (self.get_starttag_text() or "")
        self.out.append(text)
        if values.get("data-i18n") == "html" and not frozen:
            self._html_unit = (tag, lineno, len(self._frozen), [])
        if tag not in _VOID:
            self._frozen.append((tag, frozen))

    def _rewrite(self, tag: str, attrs: list[tuple[str, str | None]]) -> bool:
        """The page's language on ``<html>``, and the switcher's links to this page."""
        assert self.language is not None
        names = [name for name, _value in attrs]
        if tag == "html":
            attrs[:] = [(n, v) for n, v in attrs if n != "lang"]
            attrs.insert(0, ("lang", self.language))
            return True
        if tag == "a" and "data-lang" in names:
            code = dict(attrs)["data-lang"] or DEFAULT_LANGUAGE
            href = f"/lang?set={quote(code)}&next={quote(self.switch_next, safe='')}"
            attrs[:] = [(n, v) for n, v in attrs if n not in ("href", "aria-current")]
            attrs.append(("href", href))
            if code == self.language:
                attrs.append(("aria-current", "true"))
            return True
        return False

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self._frozen:
            self._frozen.pop()

    def handle_endtag(self, tag: str) -> None:
        unit = self._html_unit
        if unit is not None and len(self._frozen) - 1 == unit[2] and tag == unit[0]:
            self._html_unit = None
            inner = "".join(unit[3])
            self.out.append(self.message(inner, unit[1]) + f"</{tag}>")
        elif unit is not None:
            unit[3].append(f"</{tag}>")
        else:
            self.out.append(f"</{tag}>")
        if self._frozen:
            self._frozen.pop()

    def handle_data(self, data: str) -> None:
        if self._html_unit is not None:
            self._html_unit[3].append(html.escape(data, quote=False))
            return
        if self.frozen:
            tag = self._frozen[-1][0] if self._frozen else ""
            self.out.append(data if tag in _UNTRANSLATED_ELEMENTS else _escape(data))
            return
        self.out.append(_escape(self.message(data, self.getpos()[0])))

    def handle_comment(self, data: str) -> None:
        self.out.append(f"<!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self.out.append(f"<!{decl}>")

    def handle_pi(self, data: str) -> None:
        self.out.append(f"<?{data}>")


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def _start_tag(tag: str, attrs: list[tuple[str, str | None]]) -> str:
    parts = [tag]
    for name, value in attrs:
        parts.append(name if value is None else f'{name}="{html.escape(value, quote=True)}"')
    return "<" + " ".join(parts) + ">"


def html_messages(text: str) -> list[tuple[int, str]]:
    """The messages of a page (line, normalised text), in order: what :func:`render_page`
    translates. ``scripts/i18n.py`` extracts them into the ``admin`` catalog."""
    walker = _Walker(None)
    walker.feed(text)
    walker.close()
    return [(found.lineno, found.message) for found in walker.found]


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

    ``switch_next``: where the language switcher's links come back to (this page).
    """
    with language_scope(language) as code:
        walker = _Walker(code, switch_next=safe_target(switch_next))
        walker.feed(_source(path))
        walker.close()
        page = "".join(walker.out)
    return page.replace("</head>", _catalog_script(code) + "</head>", 1)


def _source(path: Path) -> str:
    return path.read_text(encoding="utf-8")
