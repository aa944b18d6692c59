"""The command line's language in a real process: --lang, LANG, LC_ALL; click's words too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# The console script itself (its entry point reads the environment's language).
OPENKMS = str(Path(sys.executable).parent / "openkms")


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LC_MESSAGES", "LANG")}
    return subprocess.run(
        [OPENKMS, *args], env={**environ, **env}, capture_output=True, text=True, timeout=60
    )


def test_help_in_french_and_german() -> None:
    french = _run("--lang", "fr", "--help").stdout
    assert french.startswith("Utilisation : openkms [OPTIONS] COMMANDE [ARGS]...\n")
    assert "OpenKMS : activation en volume pour vos propres produits" in french
    assert "Affiche la version et quitte." in french
    german = _run("--lang", "de", "host", "--help").stdout
    assert german.startswith("Verwendung: openkms host [OPTIONEN] BEFEHL [ARGS]...\n")
    assert "Ein KMS-Host: zählt die Clients und aktiviert sie." in german
    assert "Befehle:\n" in german
    english = _run("--help", LANG="es_ES.UTF-8").stdout  # no catalog: English
    assert english.startswith("Usage: openkms [OPTIONS] COMMAND [ARGS]...\n")


def test_language_from_the_environment(tmp_path: Path) -> None:
    store = str(tmp_path / "client")
    done = _run("client", "--store", store, "skhc", LANG="de_DE.UTF-8")
    assert done.stdout == "Die KMS-Hostzwischenspeicherung ist aktiviert.\n"
    done = _run("client", "--store", store, "skms-domain", "example.org", LC_ALL="fr_FR.UTF-8")
    assert done.stdout == (
        "Le domaine de recherche du service de gestion de clés a été défini sur example.org.\n"
    )
    # LC_ALL=C wins over LANG, as in the C library; --lang wins over both.
    done = _run("client", "--store", store, "ckhc", LC_ALL="C", LANG="de_DE.UTF-8")
    assert done.stdout == "KMS host caching is disabled.\n"
    done = _run("--lang", "fr", "client", "--store", store, "--bogus", LANG="de_DE.UTF-8")
    assert done.returncode == 2
    assert "Erreur : Option '--bogus' inconnue." in done.stderr
    done = _run("client", "--store", store, "ipk", LANG="de_DE.UTF-8")
    assert "Fehler: Fehlendes Argument" in done.stderr
