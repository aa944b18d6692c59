"""Dashboard pages parsed once per process serve the bytes one walk per request served.

``_reference_render`` is the walk every request made before the pages were parsed once (an
``HTMLParser`` translating as it went); the pages served now must be byte-identical to it for
every page, language and switcher target, and so must any page the walk could meet
(a property test over generated markup).
"""

from __future__ import annotations

import html
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkms.admin import _template, pages
from openkms.i18n import DEFAULT_LANGUAGE, _, language_scope

STATIC = Path(pages.__file__).parent / "static"
PAGES = sorted(STATIC.glob("*.html"))
LANGUAGES = ("en", "fr", "de")
TARGETS = ("/", "/clients?q=a&sort=cmid", "/events?id=12290&x=<\"'>", "//evil.example/", "/é")
_TRANSLATED = frozenset({"title", "placeholder", "aria-label", "label"})
_FROZEN_ELEMENTS = frozenset({"script", "style"})
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)


def _start_tag(tag: str, attrs: list[tuple[str, str | None]]) -> str:
    parts = [tag]
    for name, value in attrs:
        parts.append(name if value is None else f'{name}="{html.escape(value, quote=True)}"')
    return "<" + " ".join(parts) + ">"


class _ReferenceWalker(HTMLParser):
    """The per-request walk of the pages as it was: translates while it parses."""

    def __init__(self, language: str, switch_next: str) -> None:
        super().__init__(convert_charrefs=True)
        self.language, self.switch_next = language, switch_next
        self.out: list[str] = []
        self.frozen_stack: list[tuple[str, bool]] = []
        self.unit: tuple[str, int, list[str]] | None = None

    def frozen(self) -> bool:
        return bool(self.frozen_stack) and self.frozen_stack[-1][1]

    def message(self, text: str) -> str:
        core = re.sub(r"\s+", " ", text).strip()
        if not core or not any(ch.isalpha() for ch in core) or _(core) == core:
            return text
        head, tail = text[: len(text) - len(text.lstrip())], text[len(text.rstrip()) :]
        return head + _(core) + tail

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.unit is not None:
            self.unit[2].append(self.get_starttag_text() or "")
            if tag not in _VOID:
                self.frozen_stack.append((tag, True))
            return
        values = dict(attrs)
        frozen = self.frozen() or tag in _FROZEN_ELEMENTS or values.get("translate") == "no"
        changed = False
        for index, (name, value) in enumerate(attrs):
            if not frozen and name in _TRANSLATED and value:
                attrs[index] = (name, self.message(value))
                changed = changed or attrs[index][1] != value
        if tag == "html":
            attrs[:] = [("lang", self.language), *((n, v) for n, v in attrs if n != "lang")]
            changed = True
        elif tag == "a" and "data-lang" in values:
            code = dict(attrs)["data-lang"] or DEFAULT_LANGUAGE
            attrs[:] = [(n, v) for n, v in attrs if n not in ("href", "aria-current")]
            attrs.append(("href", f"/lang?set={quote(code)}&next={quote(self.switch_next, '')}"))
            attrs += [("aria-current", "true")] if code == self.language else []
            changed = True
        self.out.append(_start_tag(tag, attrs) if changed else self.get_starttag_text() or "")
        if values.get("data-i18n") == "html" and not frozen:
            self.unit = (tag, len(self.frozen_stack), [])
        if tag not in _VOID:
            self.frozen_stack.append((tag, frozen))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self.frozen_stack:
            self.frozen_stack.pop()

    def handle_endtag(self, tag: str) -> None:
        unit = self.unit
        if unit is not None and len(self.frozen_stack) - 1 == unit[1] and tag == unit[0]:
            self.unit = None
            self.out.append(self.message("".join(unit[2])) + f"</{tag}>")
        elif unit is not None:
            unit[2].append(f"</{tag}>")
        else:
            self.out.append(f"</{tag}>")
        if self.frozen_stack:
            self.frozen_stack.pop()

    def handle_data(self, data: str) -> None:
        if self.unit is not None:
            self.unit[2].append(html.escape(data, quote=False))
        elif self.frozen():
            keep = self.frozen_stack[-1][0] in _FROZEN_ELEMENTS
            self.out.append(data if keep else html.escape(data, quote=False))
        else:
            self.out.append(html.escape(self.message(data), quote=False))

    def handle_comment(self, data: str) -> None:
        self.out.append(f"<!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self.out.append(f"<!{decl}>")

    def handle_pi(self, data: str) -> None:
        self.out.append(f"<?{data}>")


def _reference_render(text: str, language: str, switch_next: str) -> str:
    """``text`` as one walk per request served it (without app.js's catalog)."""
    with language_scope(language):
        walker = _ReferenceWalker(language, switch_next)
        walker.feed(text)
        walker.close()
    return "".join(walker.out)


def _template_render(text: str, language: str, switch_next: str) -> str:
    with language_scope(language):
        parts = _template.localise(_template.parse(text), language)
    return "".join(p if isinstance(p, str) else p.render(switch_next) for p in parts)


def _without_catalog(page: str) -> str:
    return re.sub(r'<script type="application/json" id="openkms-i18n">.*?</script>\n', "", page)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("path", PAGES, ids=lambda path: path.name)
def test_every_page_is_byte_identical_to_the_per_request_walk(path: Path, language: str) -> None:
    source = path.read_text(encoding="utf-8")
    for target in TARGETS:
        served = pages.render_page(path, language, switch_next=target)
        expected = _reference_render(source, language, pages.safe_target(target))
        assert _without_catalog(served) == expected, (path.name, target)
        assert served.count('id="openkms-i18n"') == 1


def test_a_page_is_read_and_parsed_once(tmp_path: Path) -> None:
    """Served from the parsed form: editing the file after the first request changes nothing."""
    page = tmp_path / "index.html"
    shutil.copy(STATIC / "index.html", page)
    first = pages.render_page(page, "fr", switch_next="/")
    page.write_text("<html><body>changed</body></html>", encoding="utf-8")
    assert pages.render_page(page, "fr", switch_next="/") == first
    german = pages.render_page(page, "de", switch_next="/clients")  # another language: same parse
    assert '<html lang="de">' in german and "changed" not in german
    assert "next=%2Fclients" in german


def test_messages_for_the_catalogs_come_from_the_same_parse() -> None:
    for path in PAGES:
        template = _template.parse(path.read_text(encoding="utf-8"))
        assert pages.html_messages(path.read_text(encoding="utf-8")) == list(template.messages)
        cores = [part.core for part in template.parts if isinstance(part, _template.Message)]
        assert set(cores) <= {message for _line, message in template.messages}


# Known messages (so French and German really change them), markup the walk treats apart.
_WORDS = ("Clients", "Events", "Search", "Licensed", "Sign in", "Overview", "x & y", "42", " ")
_TOKENS = st.one_of(
    st.sampled_from(_WORDS),
    st.text(alphabet="ab <>&\"'\n", max_size=8),
    st.sampled_from(
        (
            "<html lang='en'>",
            "<html>",
            "</html>",
            "<head>",
            "</head>",
            '<a data-lang="fr" href="/x" title="Search">',
            '<a data-lang="de" aria-current="true">',
            '<a data-lang="">',
            "</a>",
            '<p data-i18n="html">',
            "</p>",
            "<code>",
            "</code>",
            '<span translate="no">',
            "</span>",
            "<script>",
            "</script>",
            "<style>",
            "</style>",
            "<br/>",
            "<div/>",
            '<input placeholder="Search" label=" Clients ">',
            '<button title="Events" aria-label="1 &amp; 2">',
            "</button>",
            "<!-- Clients -->",
            "<!DOCTYPE html>",
            "<?pi?>",
            "&amp;",
            "&lt;Clients&gt;",
        )
    ),
)


@settings(max_examples=250, deadline=None)
@given(
    tokens=st.lists(_TOKENS, max_size=30),
    language=st.sampled_from(LANGUAGES),
    target=st.sampled_from(TARGETS),
)
def test_any_markup_renders_as_the_per_request_walk(
    tokens: list[str], language: str, target: str
) -> None:
    text = "".join(tokens)
    assert _template_render(text, language, target) == _reference_render(text, language, target)
