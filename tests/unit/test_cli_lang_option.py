"""``--lang``: one option, the same on every command, before or after the command's name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
from click.testing import CliRunner

from openkms.cli.main import cli
from openkms.i18n import LANGUAGE_NAMES, use_language

# Where --lang is shown (documented once); hidden below them.
SHOWN = {"openkms", "openkms slmgr"}


def _walk(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from _walk(sub, f"{path} {name}")


def _lang_options() -> dict[str, click.Option]:
    found: dict[str, click.Option] = {}
    for path, command in _walk(cli, "openkms"):
        options = [p for p in command.params if "--lang" in p.opts]
        assert len(options) == 1, (path, options)
        assert isinstance(options[0], click.Option)
        found[path] = options[0]
    return found


def test_every_command_has_one_lang_option_of_one_definition() -> None:
    options = _lang_options()
    assert len(options) > 50  # the whole tree was walked
    first = options["openkms"]
    for path, option in options.items():
        # one definition: the same callback, choices, help and eagerness on every command
        assert option.callback is first.callback, path
        assert isinstance(option.type, click.Choice)
        assert list(option.type.choices) == list(LANGUAGE_NAMES), path
        assert (option.help, option.metavar, option.is_eager) == (
            first.help,
            first.metavar,
            True,
        ), path
        assert not option.expose_value, path
        assert option.hidden is (path not in SHOWN), path


def _doctor_client(*args: str) -> str:
    try:
        result = CliRunner().invoke(cli, list(args))
    finally:
        use_language("en")  # --lang set the process's language; the environment's again
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.output


def test_lang_before_or_after_the_command_gives_the_same_words(tmp_path: Path) -> None:
    store = str(tmp_path / "nowhere")
    english = _doctor_client("doctor", "client", "--store", store)
    places = [
        ("--lang", "fr", "doctor", "client", "--store", store),
        ("doctor", "--lang", "fr", "client", "--store", store),
        ("doctor", "client", "--lang", "fr", "--store", store),
    ]
    french = [_doctor_client(*args) for args in places]
    assert french[0] != english and "no such directory" in english
    assert "Cause la plus probable" in french[0], french[0]
    assert french == [french[0]] * len(places)
    # the last one given wins
    assert _doctor_client("--lang", "fr", "doctor", "client", "--lang", "en", "--store", store) == (
        english
    )
