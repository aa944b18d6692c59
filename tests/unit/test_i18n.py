"""The translation layer: language from --lang, the environment or a request; the catalogs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openkms import i18n
from openkms.i18n import (
    _,
    current_language,
    language_from_environment,
    language_scope,
    negotiate,
    normalize_language,
    use_language,
)
from openkms.localformat import format_count, format_number, format_timestamp

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("i18n_script", ROOT / "scripts" / "i18n.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["i18n_script"] = module
    spec.loader.exec_module(module)
    return module


def test_catalogs_are_complete_and_compiled() -> None:
    """Every marked message is in the fr and de catalogs, translated, with the same
    placeholders, and openkms.mo is their compilation (scripts/i18n.py check)."""
    problems = _script().check()
    assert problems == [], "\n".join(problems[:50])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("fr_FR.UTF-8", "fr"),
        ("de-AT", "de"),
        ("DE", "de"),
        ("fr_CA.ISO8859-1@euro", "fr"),
        ("en_US.UTF-8", "en"),
        ("C", None),
        ("POSIX", None),
        ("es_ES.UTF-8", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_language(value: str | None, expected: str | None) -> None:
    assert normalize_language(value) == expected


def test_environment_order_is_the_c_library_s() -> None:
    assert language_from_environment({"LANG": "fr_FR.UTF-8"}) == "fr"
    assert language_from_environment({"LC_MESSAGES": "de_DE", "LANG": "fr_FR"}) == "de"
    # The first variable set decides: LC_ALL=C is English even with a French LANG.
    assert language_from_environment({"LC_ALL": "C", "LANG": "fr_FR.UTF-8"}) == "en"
    assert language_from_environment({"LC_ALL": "", "LANG": "de_DE.UTF-8"}) == "de"
    assert language_from_environment({}) == "en"
    assert language_from_environment({"LANG": "ja_JP.UTF-8"}) == "en"


def test_use_language_and_scope() -> None:
    assert use_language("fr") == "fr"
    assert current_language() == "fr"
    assert _("Fix: {fix}") == "Solution : {fix}"
    with language_scope("de-DE"):
        assert _("Fix: {fix}") == "Lösung: {fix}"
    with language_scope("xx"):
        assert _("Fix: {fix}") == "Fix: {fix}"
    assert current_language() == "fr"
    with pytest.raises(ValueError, match="supported"):
        use_language("klingon")
    assert use_language("en") == "en"
    assert _("Fix: {fix}") == "Fix: {fix}"
    assert _("a message no catalog has") == "a message no catalog has"


def test_every_language_has_a_compiled_catalog() -> None:
    for language in i18n.SUPPORTED_LANGUAGES:
        if language != i18n.DEFAULT_LANGUAGE:
            assert (i18n.LOCALE_DIR / language / "LC_MESSAGES" / "openkms.mo").is_file()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", "fr"),
        ("de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7", "de"),
        ("en-US,en;q=0.9,fr;q=0.8", "en"),
        ("ja, es;q=0.9", "en"),
        ("fr;q=0, de;q=0.1", "de"),
        ("fr;q=abc, de", "de"),
        ("", "en"),
        (None, "en"),
        ("de;q=0.5, fr;q=0.5", "de"),
    ],
)
def test_negotiate(header: str | None, expected: str) -> None:
    assert negotiate(header) == expected


@given(st.text(max_size=2000))
def test_negotiate_takes_any_header(header: str) -> None:
    """A hostile Accept-Language gives a supported language, never an exception."""
    assert negotiate(header) in i18n.SUPPORTED_LANGUAGES


def test_dates_and_numbers_follow_the_language() -> None:
    epoch = 1796056800  # 2026-11-30 16:40:00 UTC
    assert format_timestamp(epoch) == "2026-11-30 16:40:00 UTC"
    assert format_count(1234567) == "1,234,567"
    with language_scope("fr"):
        assert format_timestamp(epoch) == "30/11/2026 16:40:00 UTC"
        assert format_count(1234567) == "1\u202f234\u202f567"
        assert format_number(-1.5) == "-1,5"
    with language_scope("de"):
        assert format_timestamp(epoch, zone=False) == "30.11.2026 16:40:00"
        assert format_count(1234567) == "1.234.567"
        assert format_number(2.25, 2) == "2,25"
