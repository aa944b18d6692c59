"""Result codes in French and German: messages, fixes, decoded HRESULTs and printed errors."""

from __future__ import annotations

import errno
import json

import pytest
from click.testing import CliRunner

from openkms.cli.main import cli
from openkms.core.codes import ResultCode, decode_hresult, describe
from openkms.errors import ActivationError, OpenKMSError, StateError, network_error
from openkms.i18n import language_scope


@pytest.mark.parametrize("language", ["fr", "de"])
def test_every_code_has_a_message_and_fix_of_its_own_in_each_language(language: str) -> None:
    for code in ResultCode:
        english = code.english_info
        with language_scope(language):
            info = code.info
        assert info.message and info.fix, code
        assert info.message != english.message, (language, code.hex)
        assert info.fix != english.fix, (language, code.hex)
        assert info.checks == english.checks  # procedure names are identifiers


# Word for word: the wording of Microsoft's localised activation-error documentation.
KNOWN = [
    (
        "fr",
        ResultCode.NO_KMS_HOST_CONTACTED,
        "Aucun service de gestion de clés (KMS) n'a pu être contacté.",
    ),
    (
        "fr",
        ResultCode.COUNT_TOO_LOW,
        "Le décompte indiqué par votre service de gestion de clés (KMS) est insuffisant.",
    ),
    ("fr", ResultCode.INVALID_PRODUCT_KEY, "La clé de produit n'est pas valide."),
    ("fr", ResultCode.ACCESS_DENIED, "Accès refusé."),
    (
        "fr",
        ResultCode.RPC_SERVER_UNAVAILABLE,
        "Le serveur RPC n'est pas disponible : l'hôte n'a pas pu être joint.",
    ),
    (
        "de",
        ResultCode.NO_KMS_HOST_CONTACTED,
        "Es konnte kein Schlüsselverwaltungsdienst (Key Management Service, KMS) kontaktiert "
        "werden.",
    ),
    (
        "de",
        ResultCode.COUNT_TOO_LOW,
        "Die von Ihrem Schlüsselverwaltungsdienst (Key Management Service, KMS) gemeldete "
        "Anzahl ist unzureichend.",
    ),
    ("de", ResultCode.INVALID_PRODUCT_KEY, "Der Product Key ist ungültig."),
    ("de", ResultCode.ACCESS_DENIED, "Zugriff verweigert."),
    (
        "de",
        ResultCode.DNS_NAME_DOES_NOT_EXIST,
        "Der DNS-Name ist nicht vorhanden: Es wurde kein SRV-Eintrag für den Aktivierungsdienst "
        "gefunden.",
    ),
]


@pytest.mark.parametrize(("language", "code", "message"), KNOWN)
def test_known_messages_word_for_word(language: str, code: ResultCode, message: str) -> None:
    with language_scope(language):
        assert code.info.message == message
        assert describe(int(code)) == (code.name, code.info)


def test_known_fixes_word_for_word() -> None:
    with language_scope("fr"):
        assert ResultCode.NO_PRODUCT_KEY.info.fix == (
            "Installez la clé d'installation de l'édition avec 'ipk'."
        )
    with language_scope("de"):
        assert ResultCode.NO_PRODUCT_KEY.info.fix == (
            "Installieren Sie den Setupschlüssel der Edition mit 'ipk'."
        )


def test_english_is_unchanged_and_always_reachable() -> None:
    code = ResultCode.NO_KMS_HOST_CONTACTED
    assert code.info == code.english_info
    assert code.info.message == "No Key Management Service (KMS) could be contacted."
    with language_scope("fr"):
        assert code.english_info.message == "No Key Management Service (KMS) could be contacted."
        assert code.name == "NO_KMS_HOST_CONTACTED" and code.hex == "0xC004F074"


def test_decode_hresult_for_people_and_in_english() -> None:
    assert decode_hresult(0xE0040001) == (
        "failure (customer-defined), facility ITF (licensing) (4), code 1 (0x0001)"
    )
    assert decode_hresult(0x00000000) == "success, facility NULL (0), code 0 (0x0000)"
    assert decode_hresult(0x80050001) == "failure, facility unknown (5), code 1 (0x0001)"
    with language_scope("fr"):
        assert decode_hresult(0xE0040001) == (
            "échec (défini par le client), composant ITF (gestion des licences) (4), "
            "code 1 (0x0001)"
        )
    with language_scope("de"):
        assert decode_hresult(0xC004F074) == (
            "Fehler, Facility ITF (Lizenzierung) (4), Code 61556 (0xF074)"
        )


def test_describe_an_unknown_code_in_french() -> None:
    with language_scope("fr"):
        name, info = describe(0xC0DE0001)
    assert name == "0xC0DE0001"
    assert info.fix == "Code inconnu."
    assert info.message.startswith("échec, composant inconnu (222)")


def test_an_error_takes_its_codes_message_and_fix_in_the_current_language() -> None:
    with language_scope("fr"):
        error = StateError(code=ResultCode.TRUST_MISSING)
    assert (
        error.message == "Aucun fichier de confiance de l'éditeur n'est installé dans ce magasin."
    )
    assert error.fix.startswith("Indiquez --trust avec le trust.json de l'éditeur")
    assert str(error).startswith("0xE0040007 Aucun fichier")
    english = StateError(code=ResultCode.TRUST_MISSING)
    assert english.message == "No publisher trust file is installed in this store."


def test_network_errors_in_french_and_german_and_english() -> None:
    refused = OSError(errno.ECONNREFUSED, "Connection refused")
    assert str(network_error(refused, "kms:1688")) == "0x8007274D kms:1688: connection refused"
    with language_scope("fr"):
        assert network_error(refused, "kms:1688").message == "kms:1688 : connexion refusée"
        late = network_error(TimeoutError(), "kms:1688", 3.0)
        assert late.message == "kms:1688 : aucune réponse en 3 s"
    with language_scope("de"):
        lost = network_error(OSError(errno.EHOSTUNREACH, "No route to host"), "kms:1688")
        assert lost.message == "kms:1688: nicht erreichbar (No route to host)"
        assert isinstance(lost, ActivationError)


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stderr


def test_the_command_line_prints_a_codes_error_in_french(tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, err = _run("--lang", "fr", "host", "--store", str(tmp_path), "dli")
    assert code == 1
    assert err.splitlines() == [
        "Erreur : 0xC004F014 Aucune clé de produit n'est installée.",
        "Solution : Installez la clé d'installation de l'édition avec 'ipk'.",
    ]


def test_the_command_line_prints_a_codes_error_in_german(tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, err = _run("--lang", "de", "host", "--store", str(tmp_path), "dli")
    assert code == 1
    assert err.splitlines()[0].endswith("0xC004F014 Es ist kein Product Key installiert.")
    assert "Installieren Sie den Setupschlüssel der Edition mit 'ipk'." in err


def test_the_command_line_keeps_english_by_default(tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, err = _run("host", "--store", str(tmp_path), "dli")
    assert code == 1
    assert err.splitlines() == [
        "Error: 0xC004F014 No product key is installed.",
        "Fix: Install the edition's setup key with 'ipk'.",
    ]


def test_an_error_raised_in_english_keeps_its_english_text() -> None:
    error = OpenKMSError(code=ResultCode.DISK_FULL)
    with language_scope("de"):
        assert error.message == "There is not enough space on the disk."
    payload = {"code": error.code.hex, "name": error.code.name}
    with language_scope("fr"):
        again = {"code": error.code.hex, "name": error.code.name}
    assert json.dumps(payload) == json.dumps(again)
