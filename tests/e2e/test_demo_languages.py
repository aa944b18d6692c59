"""The demo in fr_FR and de_DE prints the host's ``dli`` with the labels Windows prints.

The expected labels come from Microsoft's localised KMS troubleshooting guides, not from
the catalogs: a catalog that drifted from Windows' words fails here.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from helpers import openkms_cmd

pytestmark = pytest.mark.e2e

# (line prefix as printed, reference). FR: "Instructions pour le dépannage du service de
# gestion de clés (KMS)", learn.microsoft.com/fr-fr/windows-server/get-started/
# activation-troubleshoot-kms-general (also ../shared/seeds/000_057509419e940130.txt), fields
# "Nom", "Description", "État de la licence ... avec licence", "Décompte actuel", "Écoute sur
# le port", "Demandes avec l'état de licence". DE: the same guide in de-de ("Richtlinien für
# die Problembehandlung des Schlüsselverwaltungsdiensts (KMS)"), fields "Name",
# "Beschreibung", "Lizenzstatus ... Lizenziert", "Aktuelle Anzahl", "Lauschen am Port",
# "Anforderungen mit Lizenzstatus". French prints a space before the colon.
REFERENCE_LABELS = {
    "fr": [
        ("Nom : ", "fr-fr KMS guide: Nom"),
        ("Description : ", "fr-fr KMS guide: Description"),
        ("Clé de produit partielle : ", "fr-fr KMS guide: Clé de produit partielle"),
        ("État de la licence : Avec licence", "fr-fr KMS guide: État de la licence, avec licence"),
        ("    Décompte actuel : ", "fr-fr KMS guide, seed 000: Décompte actuel"),
        ("    Écoute sur le port : ", "fr-fr KMS guide: Écoute sur le port"),
        ("    Demandes avec l\u2019état de licence ", "seed 000: Demandes avec l'état de licence"),
    ],
    "de": [
        ("Name: ", "de-de KMS guide: Name"),
        ("Beschreibung: ", "de-de KMS guide: Beschreibung"),
        ("Lizenzstatus: Lizenziert", "de-de KMS guide: Lizenzstatus, Lizenziert"),
        ("    Aktuelle Anzahl: ", "de-de KMS guide: Aktuelle Anzahl"),
        ("    Lauschen am Port: ", "de-de KMS guide: Lauschen am Port"),
        ("    Anforderungen mit Lizenzstatus ", "de-de KMS guide: Anforderungen mit Lizenzstatus"),
    ],
}


def _demo(tmp_path: Path, *, lang_env: str | None = None, lang_option: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG"))}
    if lang_env:
        env["LANG"] = lang_env
    command = openkms_cmd(
        *(["--lang", lang_option] if lang_option else []),
        "demo",
        "--once",
        "--no-admin",
        "--clients",
        "4",
        "--servers",
        "5",
        "--dir",
        str(tmp_path / "site"),
    )
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


@pytest.mark.parametrize(
    ("language", "how"),
    [("fr", {"lang_env": "fr_FR.UTF-8"}), ("de", {"lang_option": "de"})],
)
def test_the_demo_prints_windows_dli_labels(
    tmp_path: Path, language: str, how: dict[str, str]
) -> None:
    out = _demo(tmp_path, **how)
    dli = out.splitlines()
    for prefix, reference in REFERENCE_LABELS[language]:
        assert any(line.startswith(prefix) for line in dli), (prefix, reference)
    assert sum(line.startswith(REFERENCE_LABELS[language][-1][0]) for line in dli) == 6
    if language == "fr":
        assert "5 clients activés sur 9." in out
        assert re.search(r"^    Décompte actuel : 9$", out, re.M)
    else:
        assert "5 von 9 Clients aktiviert." in out
        assert re.search(r"^    Aktuelle Anzahl: 9$", out, re.M)
    assert "License Status" not in out and "Current count" not in out
