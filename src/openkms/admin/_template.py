"""A dashboard page parsed once: its markup as fixed text with holes for what a request changes.

:func:`parse` walks a page's HTML (``html.parser``) and keeps it as a sequence of parts: text
served as it is, the page's messages (:class:`Message`: a text node, a translated attribute's
start tag, a ``data-i18n="html"`` unit) and the start tags a language rewrites (``<html lang>``,
the switcher's links). :func:`localise` fills the messages in for one language, leaving only
the switcher's links (:class:`Link`), whose ``next`` is the request's own page; filling those
in is all a request costs. The output is what one walk of the page per request produced:
markup as written, only the text and the translated attributes change.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Final
from urllib.parse import quote

from openkms.i18n import DEFAULT_LANGUAGE, _

__all__ = [
    "TRANSLATED_ATTRIBUTES",
    "Link",
    "Localised",
    "Message",
    "Template",
    "localise",
    "parse",
]

TRANSLATED_ATTRIBUTES: Final = frozenset({"title", "placeholder", "aria-label", "label"})
_UNTRANSLATED_ELEMENTS: Final = frozenset({"script", "style"})
_VOID: Final = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)
_SPACE = re.compile(r"\s+")

Attrs = tuple[tuple[str, str | None], ...]


@dataclass(frozen=True, slots=True)
class Message:
    """A message of a page: ``text`` as written, ``core`` its normalised form (the msgid),
    ``lineno`` the line it starts on; ``escape``: a text node (escaped when served), not a
    ``data-i18n="html"`` unit (markup already)."""

    text: str
    core: str
    lineno: int
    escape: bool = True

    def render(self) -> str:
        """The message in the current language, its surrounding space kept."""
        translated = _translate(self.text, self.core)
        return html.escape(translated, quote=False) if self.escape else translated


@dataclass(frozen=True, slots=True)
class _StartTag:
    """A start tag a language may change: translated attributes, ``<html lang>``, a link of
    the switcher. ``raw`` is the tag as written, served when nothing changes."""

    tag: str
    attrs: Attrs
    raw: str
    translated: tuple[tuple[int, str], ...]  # (index in attrs, normalised value)


@dataclass(frozen=True, slots=True)
class Link:
    """A link of the language switcher, in one language: it comes back to the request's page."""

    attrs: Attrs  # without href and aria-current
    code: str
    current: bool

    def render(self, switch_next: str) -> str:
        """The ``<a>`` start tag for a request of the page ``switch_next`` (a safe target)."""
        href = f"/lang?set={quote(self.code)}&next={quote(switch_next, safe='')}"
        attrs = [*self.attrs, ("href", href)]
        if self.current:
            attrs.append(("aria-current", "true"))
        return _start_tag("a", attrs)


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed page: its parts in order, and its messages (line, msgid) for the catalogs."""

    parts: tuple[str | Message | _StartTag, ...]
    messages: tuple[tuple[int, str], ...]


# A page in one language: text, and the switcher's links still to fill in.
Localised = tuple[str | Link, ...]


def normalise(text: str) -> str:
    """``text`` with its runs of white space made one space, trimmed: a msgid."""
    return _SPACE.sub(" ", text).strip()


def _is_message(core: str) -> bool:
    return bool(core) and any(ch.isalpha() for ch in core)


def _translate(text: str, core: str) -> str:
    """``text`` translated (surrounding space kept); as written when the words are the same."""
    translated = _(core)
    if translated == core:
        return text
    head = text[: len(text) - len(text.lstrip())]
    tail = text[len(text.rstrip()) :]
    return head + translated + tail


def _start_tag(tag: str, attrs: list[tuple[str, str | None]]) -> str:
    parts = [tag]
    for name, value in attrs:
        parts.append(name if value is None else f'{name}="{html.escape(value, quote=True)}"')
    return "<" + " ".join(parts) + ">"


@dataclass(slots=True)
class _Unit:
    """An open ``data-i18n="html"`` element: its tag, line, depth and inner markup so far."""

    tag: str
    lineno: int
    depth: int
    inner: list[str] = field(default_factory=list)


class _Parser(HTMLParser):
    """Splits a page into fixed text and the parts a language or a request changes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str | Message | _StartTag] = []
        self.messages: list[tuple[int, str]] = []
        # One entry per open element: does its content stay untranslated?
        self._frozen: list[tuple[str, bool]] = []
        self._unit: _Unit | None = None

    @property
    def frozen(self) -> bool:
        return bool(self._frozen) and self._frozen[-1][1]

    def _message(self, text: str, lineno: int, *, escape: bool = True) -> str | Message:
        """A message part for ``text``, or ``text`` as served when it holds no words."""
        core = normalise(text)
        if not _is_message(core):
            return html.escape(text, quote=False) if escape else text
        self.messages.append((lineno, core))
        return Message(text, core, lineno, escape)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raw = self.get_starttag_text() or ""
        if self._unit is not None:
            self._unit.inner.append(raw)
            if tag not in _VOID:
                self._frozen.append((tag, True))
            return
        lineno = self.getpos()[0]
        values = dict(attrs)
        frozen = self.frozen or tag in _UNTRANSLATED_ELEMENTS or values.get("translate") == "no"
        translated: list[tuple[int, str]] = []
        for index, (name, value) in enumerate(attrs):
            core = normalise(value or "")
            if not frozen and name in TRANSLATED_ATTRIBUTES and _is_message(core):
                self.messages.append((lineno, core))
                translated.append((index, core))
        rewritten = tag == "html" or (tag == "a" and "data-lang" in values)
        if translated or rewritten:
            self.parts.append(_StartTag(tag, tuple(attrs), raw, tuple(translated)))
        else:
            self.parts.append(raw)
        if values.get("data-i18n") == "html" and not frozen:
            self._unit = _Unit(tag, lineno, len(self._frozen))
        if tag not in _VOID:
            self._frozen.append((tag, frozen))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self._frozen:
            self._frozen.pop()

    def handle_endtag(self, tag: str) -> None:
        unit = self._unit
        if unit is not None and len(self._frozen) - 1 == unit.depth and tag == unit.tag:
            self._unit = None
            self.parts.append(self._message("".join(unit.inner), unit.lineno, escape=False))
            self.parts.append(f"</{tag}>")
        elif unit is not None:
            unit.inner.append(f"</{tag}>")
        else:
            self.parts.append(f"</{tag}>")
        if self._frozen:
            self._frozen.pop()

    def handle_data(self, data: str) -> None:
        if self._unit is not None:
            self._unit.inner.append(html.escape(data, quote=False))
        elif self.frozen:
            tag = self._frozen[-1][0] if self._frozen else ""
            kept = data if tag in _UNTRANSLATED_ELEMENTS else html.escape(data, quote=False)
            self.parts.append(kept)
        else:
            self.parts.append(self._message(data, self.getpos()[0]))

    def handle_comment(self, data: str) -> None:
        self.parts.append(f"<!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self.parts.append(f"<!{decl}>")

    def handle_pi(self, data: str) -> None:
        self.parts.append(f"<?{data}>")


def parse(text: str) -> Template:
    """The page ``text`` split into its parts (see the module's docstring)."""
    parser = _Parser()
    parser.feed(text)
    parser.close()
    return Template(tuple(parser.parts), tuple(parser.messages))


def _localised_tag(part: _StartTag, language: str) -> str | Link:
    attrs = list(part.attrs)
    changed = False
    for index, core in part.translated:
        name, value = attrs[index]
        new = _translate(value or "", core)
        changed = changed or new != value
        attrs[index] = (name, new)
    if part.tag == "html":
        return _start_tag("html", [("lang", language), *(a for a in attrs if a[0] != "lang")])
    if part.tag == "a" and any(name == "data-lang" for name, _value in attrs):
        code = dict(attrs)["data-lang"] or DEFAULT_LANGUAGE
        kept = tuple(a for a in attrs if a[0] not in ("href", "aria-current"))
        return Link(kept, code, code == language)
    return _start_tag(part.tag, attrs) if changed else part.raw


def localise(template: Template, language: str) -> Localised:
    """``template`` in ``language`` (the current one: call inside its ``language_scope``),
    adjacent text joined; only the switcher's links are left to fill in."""
    out: list[str | Link] = []
    for part in template.parts:
        if isinstance(part, str):
            piece: str | Link = part
        elif isinstance(part, Message):
            piece = part.render()
        else:
            piece = _localised_tag(part, language)
        if isinstance(piece, str) and out and isinstance(out[-1], str):
            out[-1] += piece
        else:
            out.append(piece)
    return tuple(out)
