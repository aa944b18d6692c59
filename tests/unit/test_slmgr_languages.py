"""``dli``, ``dlv`` and ``xpr`` in French and German, English unchanged, JSON never translated.

The expected French and German lines are the labels of Microsoft's localised KMS guides
(docs/i18n.md, "slmgr labels"), not read from the catalogs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from openkms.cli.main import cli
from openkms.cli.slmgr import slmgr_command
from openkms.client.api import Client
from openkms.i18n import language_scope
from openkms.slmgr_text import minutes_text

from helpers import Site

_SLMGR = Path(sys.executable).parent / "slmgr"


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def client_store(site: Site, tmp_path: Path) -> Path:
    """A client store with a setup key installed (in its initial grace period)."""
    directory = tmp_path / "client"
    client = Client.open(directory, machine_name="desk-01")
    client.install_key(site.product("Desktop Professional").setup_key, site.publisher.trust())
    return directory


def test_host_dli_in_french(site: Site) -> None:
    lines = _run("--lang", "fr", "host", "--store", str(site.host_dir), "dli").splitlines()
    assert "État de la licence : Avec licence" in lines
    assert "Le service de gestion de clés est activé sur cet ordinateur" in lines
    assert "    Décompte actuel : 0" in lines
    assert "    Écoute sur le port : 1688" in lines
    assert "    Intervalle d\u2019activation : 120 minutes" in lines
    assert "    Demandes avec l\u2019état de licence Période de grâce initiale : 0" in lines
    assert any(re.fullmatch(r"Nom : .+", line) for line in lines)
    assert any(re.fullmatch(r"Clé de produit partielle : [0-9A-Z]{5}", line) for line in lines)
    expiry = next(line for line in lines if line.startswith("Expiration du certificat"))
    assert re.fullmatch(r".+ : \d\d/\d\d/\d{4} \d\d:\d\d:\d\d UTC", expiry)


def test_host_dli_in_german(site: Site) -> None:
    lines = _run("--lang", "de", "host", "--store", str(site.host_dir), "dli").splitlines()
    assert "Lizenzstatus: Lizenziert" in lines
    assert "Der Schlüsselverwaltungsdienst ist auf diesem Computer aktiviert." in lines
    assert "    Aktuelle Anzahl: 0" in lines
    assert "    Aktivierungsintervall: 120 Minuten" in lines
    assert "    Erneuerungsintervall: 10080 Minuten" in lines
    assert "    Anforderungen mit Lizenzstatus Benachrichtigung: 0" in lines
    assert "    KMS-Priorität: Normal" in lines


def test_host_dli_in_english_is_unchanged(site: Site) -> None:
    lines = _run("--lang", "en", "host", "--store", str(site.host_dir), "dli").splitlines()
    expected = [
        "License Status: Licensed",
        "Key Management Service is enabled on this machine",
        "    Current count: 0",
        "    Listening on Port: 1688",
        "    KMS priority: Normal",
        "Key Management Service current count and intervals",
        "    Activation interval: 120 minutes",
        "    Renewal interval: 10080 minutes",
        "Key Management Service cumulative requests received from clients",
        "    Requests with License Status License expired or Hardware out of tolerance: 0",
    ]
    assert [line for line in expected if line not in lines] == []
    expiry = next(line for line in lines if line.startswith("Host certificate expiration"))
    assert re.fullmatch(r"Host certificate expiration: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", expiry)


def test_client_dlv_in_german_and_french(client_store: Path) -> None:
    german = _run("--lang", "de", "client", "--store", str(client_store), "dlv")
    assert "Lizenzstatus: Anfängliche Toleranzperiode" in german
    assert re.search(
        r"^Verbleibende Zeit: 43[12]\d\d Minute\(n\) \((29|30) Tag\(e\)\)$", german, re.M
    )
    assert "Informationen zum Schlüsselverwaltungsdienst-Client" in german
    assert "    DNS-Autoermittlung: KMS-Name nicht verfügbar" in german
    assert "    KMS-Hostzwischenspeicherung ist aktiviert" in german
    assert "Product Key-Kanal: Volume:GVLK" in german
    french = _run("--lang", "fr", "client", "--store", str(client_store), "dli")
    assert "État de la licence : Période de grâce initiale" in french
    assert re.search(r"^Temps restant : \d+ minute\(s\) \(\d+ jour\(s\)\)$", french, re.M)
    assert "    ID d\u2019ordinateur client (CMID) : " in french
    assert "    La mise en cache de l\u2019hôte KMS est activée" in french


def test_xpr_in_french_and_german(site: Site, client_store: Path) -> None:
    host = _run("--lang", "de", "host", "--store", str(site.host_dir), "xpr")
    assert re.search(r"Die Volumenaktivierung läuft am \d\d\.\d\d\.\d{4} .+ ab", host)
    client = _run("--lang", "fr", "client", "--store", str(client_store), "xpr")
    assert re.search(r"Période de grâce initiale : se termine le \d\d/\d\d/\d{4}", client)


def test_durations_as_windows_prints_them() -> None:
    assert minutes_text(43200) == "43200 minute(s) (30 day(s))"
    with language_scope("fr"):
        assert minutes_text(43200) == "43200 minute(s) (30 jour(s))"
    with language_scope("de"):
        assert minutes_text(43200) == "43200 Minute(n) (30 Tag(e))"


_CLOCK = {"trusted_time", "minutes_remaining", "ends_at", "certificate_expires_at"}


@pytest.mark.parametrize("role", ["host", "client"])
def test_json_is_the_same_in_every_language(site: Site, client_store: Path, role: str) -> None:
    store = site.host_dir if role == "host" else client_store
    documents = []
    for language in ("en", "fr", "de"):
        document = json.loads(
            _run("--lang", language, role, "--store", str(store), "dlv", "--json")
        )
        documents.append({k: v for k, v in document.items() if k not in _CLOCK})
    assert documents[0] == documents[1] == documents[2]
    assert documents[0]["license_status"] in ("Licensed", "Initial grace period")


def test_slmgr_lang_option(site: Site) -> None:
    result = CliRunner().invoke(
        slmgr_command, ["--lang", "fr", "--store", str(site.host_dir), "/dli"]
    )
    assert result.exit_code == 0, result.output
    assert "État de la licence : Avec licence" in result.output
    usage = CliRunner().invoke(slmgr_command, ["--lang", "de", "/?"])
    assert "Lizenzinformationen anzeigen" in usage.output


def test_slmgr_unknown_option_in_german(site: Site) -> None:
    result = CliRunner().invoke(
        slmgr_command, ["--lang", "de", "--store", str(site.host_dir), "/nope"]
    )
    assert result.exit_code != 0
    assert "unbekannte Option /nope" in result.output


@pytest.mark.skipif(not _SLMGR.exists(), reason="the slmgr script is not installed")
def test_slmgr_follows_lang_of_the_environment(site: Site) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LC_")}
    env["LANG"] = "de_DE.UTF-8"
    result = subprocess.run(
        [str(_SLMGR), "--store", str(site.host_dir), "/dli"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Lizenzstatus: Lizenziert" in result.stdout.splitlines()
    env["LC_ALL"] = "C"  # the C library's order: LC_ALL first
    result = subprocess.run(
        [str(_SLMGR), "--store", str(site.host_dir), "/dli"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert "License Status: Licensed" in result.stdout.splitlines()
