"""The doctor's JSON is machine output: the same bytes whatever the language of the run."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from openkms.cli.main import cli

FIXTURES = Path(__file__).parent / "fixtures"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize(
    "args",
    [
        ("doctor", "explain", "0xC004F074", "--json"),
        ("doctor", "slmgr", str(FIXTURES / "host_dlv_de.txt"), "--json"),
        ("doctor", "slmgr", str(FIXTURES / "client_notification_fr.txt"), "--json"),
        ("doctor", "events", str(FIXTURES / "host_events.csv"), "--json"),
    ],
)
def test_json_is_the_same_in_every_language(args: tuple[str, ...]) -> None:
    english = _run("--lang", "en", *args)
    assert english[1].lstrip().startswith(("{", "["))
    for language in ("fr", "de"):
        assert _run("--lang", language, *args) == english


def test_text_follows_the_language() -> None:
    """The same explanation as text is French with --lang fr (the JSON above is not)."""
    code, english = _run("--lang", "en", "doctor", "explain", "0xC004F074")
    code_fr, french = _run("--lang", "fr", "doctor", "explain", "0xC004F074")
    assert code == code_fr == 0
    assert french != english
    assert "KMS" in french
