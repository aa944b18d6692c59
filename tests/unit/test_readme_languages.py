"""The French and German READMEs run the same commands as README.md, so they cannot drift.

The shell blocks (the two commands, the tour) must hold the same commands in the same order,
ignoring comments and the language choices the translations add (``--lang fr``,
``LANG=de_DE.UTF-8``); the embedding example must be the same code, ignoring comments.
"""

from __future__ import annotations

import io
import re
import shlex
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent.parent
TRANSLATIONS = {"fr": ROOT / "README.fr.md", "de": ROOT / "README.de.md"}
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_LANGUAGE_VARIABLES = ("LANG=", "LC_ALL=", "LC_MESSAGES=")


def _blocks(text: str, kind: str) -> list[str]:
    return [body for lang, body in _FENCE.findall(text) if lang == kind]


def _is_language_choice(word: str, *, first: bool) -> bool:
    return word.startswith("--lang=") or (first and word.startswith(_LANGUAGE_VARIABLES))


def _without_language(words: list[str]) -> list[str]:
    kept: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word == "--lang":
            skip = True
        elif not _is_language_choice(word, first=not kept):
            kept.append(word)
    return kept


def shell_commands(block: str) -> list[list[str]]:
    """The commands of a shell block, as words: comments and language choices left out."""
    commands = [_without_language(shlex.split(line, comments=True)) for line in block.splitlines()]
    return [words for words in commands if words]


def python_code(block: str) -> list[str]:
    """The tokens of a Python block without its comments and layout."""
    tokens = tokenize.generate_tokens(io.StringIO(block).readline)
    ignored = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    return [token.string for token in tokens if token.type not in ignored]


def _inline_commands(text: str) -> set[str]:
    spans = re.findall(r"`((?:scripts/|pip install|openkms )[^`]*)`", text)
    return {" ".join(span.split()) for span in spans}


def _english() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("language", sorted(TRANSLATIONS))
def test_shell_blocks_hold_the_same_commands(language: str) -> None:
    english = [shell_commands(b) for b in _blocks(_english(), "sh")]
    translated = TRANSLATIONS[language].read_text(encoding="utf-8")
    assert len(english) >= 2  # the two commands and the tour
    assert [shell_commands(b) for b in _blocks(translated, "sh")] == english


@pytest.mark.parametrize("language", sorted(TRANSLATIONS))
def test_embedding_example_is_the_same_code(language: str) -> None:
    english = [python_code(b) for b in _blocks(_english(), "python")]
    translated = TRANSLATIONS[language].read_text(encoding="utf-8")
    assert english
    assert [python_code(b) for b in _blocks(translated, "python")] == english


@pytest.mark.parametrize("language", sorted(TRANSLATIONS))
def test_translation_shows_its_language_where_it_shows_output(language: str) -> None:
    translated = TRANSLATIONS[language].read_text(encoding="utf-8")
    lines = "\n".join(_blocks(translated, "sh"))
    assert f"--lang {language}" in lines


@pytest.mark.parametrize("language", sorted(TRANSLATIONS))
def test_inline_commands_of_the_prose_are_kept(language: str) -> None:
    english = _inline_commands(_english())
    assert english
    assert english - _inline_commands(TRANSLATIONS[language].read_text(encoding="utf-8")) == set()


def test_every_readme_links_the_others() -> None:
    names = ["README.md", *(p.name for p in TRANSLATIONS.values())]
    for name in names:
        head = (ROOT / name).read_text(encoding="utf-8").split("\n\n", 2)[1]
        assert all(f"({other})" in head for other in names if other != name), name


def test_language_choices_are_left_out() -> None:
    block = (
        "LANG=fr_FR.UTF-8 OPENKMS_STORE=pc1 slmgr /dlv\nopenkms --lang de doctor explain X  # x\n"
    )
    assert shell_commands(block) == [
        ["OPENKMS_STORE=pc1", "slmgr", "/dlv"],
        ["openkms", "doctor", "explain", "X"],
    ]


def test_a_changed_command_is_seen() -> None:
    assert shell_commands("openkms host --store kms dli") != shell_commands(
        "openkms host --store kms2 dli  # dli"
    )
