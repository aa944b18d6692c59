"""The command line in French and German: every help text translated, click's own words, the
printed messages; English and JSON unchanged."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import click
from click.testing import CliRunner

from openkms.cli._click_words import CLICK_MESSAGES, METAVAR_WORDS, click_plurals
from openkms.cli._language import metavar_text
from openkms.cli.main import cli
from openkms.host.config_file import OPTIONS
from openkms.i18n import gettext_for, language_scope, use_language

from helpers import Site

LANGUAGES = ("fr", "de")
# serve's and show-config's flags take their help from host/config_file.py (messages domain).
CONFIG_FILE_HELP = frozenset(option.help for option in OPTIONS)


def _walk(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from _walk(sub, f"{path} {name}")


def _help_texts() -> Iterator[tuple[str, str]]:
    """(where, text) of every help text of the tree: openkms, with doctor and slmgr."""
    for path, command in _walk(cli, "openkms"):
        if command.help:
            yield path, inspect.cleandoc(command.help)
        if command.short_help:
            yield f"{path} (short help)", inspect.cleandoc(command.short_help)
        for param in command.params:
            text = getattr(param, "help", None)
            if text:
                yield f"{path} {param.opts[0]}", text


def _untranslated(*, config_file: bool) -> list[str]:
    missing = []
    for where, text in _help_texts():
        if (text in CONFIG_FILE_HELP) != config_file:
            continue
        for language in LANGUAGES:
            if gettext_for(language).gettext(text) == text:
                missing.append(f"{language}: {where}: {text!r}")
    return missing


def test_every_help_text_is_translated() -> None:
    """Each command's help and short help and each option's and argument's help has a French
    and a German translation in the compiled catalog (the failure names the command and
    option: run scripts/i18n.py extract --domain cli and translate)."""
    assert len(list(_help_texts())) > 150  # the walk sees the whole tree
    missing = _untranslated(config_file=False)
    assert missing == [], "\n".join(missing)


def test_serve_flags_from_the_config_file_are_translated() -> None:
    missing = _untranslated(config_file=True)
    assert missing == [], "\n".join(missing)


def test_metavar_words_and_click_messages_are_in_the_catalogs() -> None:
    for language in LANGUAGES:
        catalog = gettext_for(language)
        for text in (*CLICK_MESSAGES, *METAVAR_WORDS):
            assert catalog.gettext(text) != "" and text in catalog._catalog  # type: ignore[attr-defined]
        for text in CLICK_MESSAGES:
            # The same in a language: "Options" in French, "{heading}:" in German.
            if text not in ("%(prog)s, version %(version)s", "Options", "{heading}:"):
                assert catalog.gettext(text) != text, (language, text)
    with language_scope("de"):
        assert click_plurals(2)[0] == "Unerwartete zusätzliche Argumente ({args})"
        assert metavar_text("[KEY]...") == "[SCHLÜSSEL]..."
        assert metavar_text("okpk1:...") == "okpk1:..."
    with language_scope("fr"):
        assert metavar_text("COMMAND [ARGS]...") == "COMMANDE [ARGS]..."
        assert metavar_text("INTEGER RANGE") == "PLAGE D'ENTIERS"


def _run(*args: str, env: dict[str, str] | None = None) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_help_in_french_and_german_then_english_again() -> None:
    english = _run("host", "--help").output
    french = _run("--lang", "fr", "host", "--help").output
    assert french.startswith("Utilisation : openkms host [OPTIONS] COMMANDE [ARGS]...\n")
    assert "  Un hôte KMS : compte les clients et les active.\n" in french
    assert "Options :\n" in french and "Commandes :\n" in french
    assert re.search(r"--store RÉPERTOIRE +Le répertoire du magasin de l'hôte", french)
    assert re.search(r"-h, --help +Affiche ce message et quitte\.", french)
    assert re.search(r"cpri +Définit la priorité KMS sur Basse\.", french)
    german = _run("--lang", "de", "host", "sai", "--help").output
    assert german.startswith("Verwendung: openkms host sai [OPTIONEN] MINUTEN\n")
    assert "Legt das Aktivierungsintervall (Wiederholung) der Clients fest" in german
    # The command objects are English again: the same help as before, and docs/cli.md's.
    assert _run("--lang", "en", "host", "--help").output == english
    assert english.startswith("Usage: openkms host [OPTIONS] COMMAND [ARGS]...\n")
    assert "--store DIRECTORY    The host's store directory (or OPENKMS_STORE)." in english
    with click.Context(cli, info_name="openkms") as ctx:
        assert "Show this message and exit." in cli.get_help(ctx)


def test_click_errors_speak_the_language() -> None:
    result = CliRunner().invoke(cli, ["--lang", "de", "client", "--bogus"])
    assert result.exit_code == 2
    assert "Verwendung: openkms client [OPTIONEN] BEFEHL [ARGS]...\n" in result.output
    assert "Versuchen Sie 'openkms client --help' für Hilfe." in result.output
    assert "Fehler: Unbekannte Option '--bogus'." in result.output
    result = CliRunner().invoke(cli, ["--lang", "fr", "dooctor"])
    assert "Erreur : Commande 'dooctor' inconnue. Vouliez-vous dire 'doctor' ?" in result.output
    result = CliRunner().invoke(cli, ["--lang", "fr", "host", "sprt", "abc"])
    assert "Valeur non valide pour 'PORT'" in result.output
    use_language("en")  # --lang set the process's language; the environment's again
    result = CliRunner().invoke(cli, ["client", "--bogus"])
    assert "Error: No such option '--bogus'." in result.output
    with language_scope("de"):  # a scope decides for click too, without --lang
        result = CliRunner().invoke(cli, ["doctor", "--bogus"])
    assert "Fehler: Unbekannte Option '--bogus'." in result.output


def test_printed_messages_in_french_and_german(tmp_path: Path) -> None:
    store = str(tmp_path / "client")
    assert _run("--lang", "fr", "client", "--store", store, "skhc").output == (
        "La mise en cache de l'hôte KMS est activée.\n"
    )
    assert _run("--lang", "de", "client", "--store", store, "skms", "kms.example:1700").output == (
        "Der Computername des Schlüsselverwaltungsdiensts wurde erfolgreich auf "
        "kms.example:1700 festgelegt.\n"
    )
    assert _run("--lang", "en", "client", "--store", store, "ckms").output == (
        "Key Management Service machine name cleared successfully.\n"
    )
    result = CliRunner().invoke(cli, ["--lang", "de", "client", "ipk", "X"])
    assert "Fehler: 0x" in result.output and "Lösung: " in result.output


def test_host_messages_and_json_across_languages(site: Site) -> None:
    store = str(site.host_dir)
    assert _run("--lang", "fr", "host", "--store", store, "sprt", "1700").output == (
        "Le port KMS a été défini sur 1700. Redémarrez l'hôte pour que la modification "
        "prenne effet.\n"
    )
    assert _run("--lang", "en", "host", "--store", store, "sai", "120").output == (
        "Activation interval set to 120 minutes successfully.\n"
    )
    shown = _run("--lang", "de", "host", "--store", store, "dns-config").output
    assert "DNS-Veröffentlichung: aktiviert\n" in shown
    assert "Erneute Veröffentlichung alle 24 Stunden" in shown
    outputs = {
        language: _run("--lang", language, "host", "--store", store, "dns-config", "--json").output
        for language in ("en", "fr", "de")
    }
    assert outputs["en"] == outputs["fr"] == outputs["de"]
    assert '"dns_ttl"' in outputs["en"]


def test_lang_is_also_taken_after_the_command(tmp_path: Path) -> None:
    """``--lang`` works on every command (``host dli --lang fr``), the innermost one wins, and
    it stays out of the commands' help pages (it is documented on ``openkms``)."""
    missing = str(tmp_path / "missing")
    runner = CliRunner()
    french = runner.invoke(cli, ["host", "--store", missing, "dli", "--lang", "fr"])
    assert french.exit_code != 0
    assert french.output.startswith("Erreur : 0x")
    german = runner.invoke(
        cli, ["--lang", "fr", "client", "--store", missing, "dli", "--lang", "de"]
    )
    assert german.output.startswith("Fehler: 0x")
    use_language("en")
    assert "--lang" not in runner.invoke(cli, ["host", "dli", "--help"]).output
    assert "--lang" in runner.invoke(cli, ["--help"]).output
