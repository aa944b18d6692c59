"""Errors of the stores and the client, in French and German through the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from openkms.errors import StateError, StoreError
from openkms.i18n import _, language_scope


def _openkms(*args: str, lang: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LC_")}
    env["LANG"] = lang or "C.UTF-8"
    return subprocess.run(
        [sys.executable, "-m", "openkms", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def corrupt_client(tmp_path: Path) -> Path:
    """A client store whose client.json is cut short."""
    (tmp_path / "client.json").write_text('{"format": "nope"')
    return tmp_path


def test_corrupt_client_store_in_three_languages(corrupt_client: Path) -> None:
    """The same corrupt store: English unchanged, French and German translated, same code."""
    path = corrupt_client / "client.json"
    english = _openkms("client", "--store", str(corrupt_client), "dli")
    french = _openkms("--lang", "fr", "client", "--store", str(corrupt_client), "dli")
    german = _openkms("client", "--store", str(corrupt_client), "dli", lang="de_DE.UTF-8")
    assert english.returncode == french.returncode == german.returncode == 1
    assert f"0xE0040004 {path} is corrupt: " in english.stderr
    assert f"Fix: Restore {path} from a backup, or move it aside and install" in english.stderr
    assert f"0xE0040004 {path} est corrompu : " in french.stderr
    assert f"Restaurez {path} depuis une sauvegarde, ou déplacez-le ailleurs" in french.stderr
    assert f"0xE0040004 {path} ist beschädigt: " in german.stderr
    assert f"Stellen Sie {path} aus einer Sicherung wieder her" in german.stderr


def test_missing_and_damaged_host_store_in_german(tmp_path: Path) -> None:
    """A missing host store and a file that is not a database, in German."""
    missing = _openkms("--lang", "de", "host", "--store", str(tmp_path / "none"), "check")
    assert f"0xE0040005 unter {tmp_path / 'none' / 'host.db'} gibt es keinen Speicher" in (
        missing.stderr
    )
    assert "Prüfen Sie das Verzeichnis --store" in missing.stderr
    (tmp_path / "host.db").write_text("garbage")
    damaged = _openkms("--lang", "de", "host", "--store", str(tmp_path), "check")
    assert "ist kein OpenKMS-Speicher oder ist beschädigt" in damaged.stderr
    english = _openkms("host", "--store", str(tmp_path), "check")
    assert "is not an OpenKMS store or is damaged" in english.stderr


def test_errors_follow_the_language_where_raised() -> None:
    """A message is translated when the error is made; its code never changes."""
    with language_scope("fr"):
        error = StoreError(_("store is closed"), fix=_("Open the store again before using it."))
    assert error.message == "le magasin est fermé"
    assert error.fix == "Rouvrez le magasin avant de l'utiliser."
    with language_scope("de"):
        german = StateError(_("there is no file {path}").format(path="/x"))
    assert german.message == "die Datei /x existiert nicht"
    assert german.code == StateError().code
    english = StateError(_("there is no file {path}").format(path="/x"))
    assert english.message == "there is no file /x"
