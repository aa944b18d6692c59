"""The labels ``slmgr /dli`` and ``/dlv`` print, in English, French, German and Spanish.

Keys are passed through :func:`normalize_label` (lower case, no accents, straight quotes),
so "État de la licence :" and "Etat de la licence:" both match ``etat de la licence``. German
text saved without umlauts ("Schluesselverwaltungsdienst", "Ausserhalb") is matched too:
:func:`fold` writes both sides the same way. The French and German labels are those of
Microsoft's localised KMS documentation and of OpenKMS's own output (docs/i18n.md, "slmgr
labels"), plus the variants seen in saved Windows output.
"""

from __future__ import annotations

import re

from openkms.core.license import LicenseState
from openkms.doctor._text import normalize_label
from openkms.doctor.slmgr._keywords import field_by_words, flag_by_words

__all__ = [
    "FLAG_LINES",
    "LABELS",
    "STATUS_WORDS",
    "fallback_field",
    "field_of",
    "flag_of",
    "fold",
    "state_of",
]

_EN = {
    "software licensing service version": "version",
    "name": "name",
    "description": "description",
    "activation id": "activation_id",
    "application id": "application_id",
    "extended pid": "extended_pid",
    "product key channel": "product_key_channel",
    "partial product key": "partial_key",
    "license status": "license_status",
    "volume activation expiration": "expiration",
    "time remaining": "expiration",
    "timebased activation expiration": "expiration",
    "notification reason": "notification_reason",
    "trusted time": "trusted_time",
    "client machine id (cmid)": "cmid",
    "kms machine name from dns": "kms_dns",
    "registered kms machine name": "kms_registered",
    "kms machine ip address": "kms_ip",
    "kms machine extended pid": "kms_pid",
    "dns auto-discovery": "dns_autodiscovery",
    "activation interval": "activation_interval",
    "renewal interval": "renewal_interval",
    "current count": "current_count",
    "listening on port": "listening_port",
    "kms priority": "priority",
    "total requests received": "total_requests",
    "failed requests received": "failed_requests",
}

_FR = {
    "version du service de gestion des licences logicielles": "version",
    "nom": "name",
    "description": "description",
    "id d'activation": "activation_id",
    "id d'application": "application_id",
    "pid etendu": "extended_pid",
    "canal de la cle de produit": "product_key_channel",
    "cle de produit partielle": "partial_key",
    "etat de la licence": "license_status",
    "expiration de l'activation en volume": "expiration",
    "temps restant": "expiration",
    "raison de la notification": "notification_reason",
    "heure approuvee": "trusted_time",
    "id de l'ordinateur client (cmid)": "cmid",
    "nom de l'ordinateur kms a partir du dns": "kms_dns",
    "nom de l'ordinateur kms provenant du dns": "kms_dns",
    "nom de l'ordinateur kms inscrit": "kms_registered",
    "nom d'ordinateur kms inscrit": "kms_registered",
    "adresse ip de l'ordinateur kms": "kms_ip",
    "pid etendu de l'ordinateur kms": "kms_pid",
    "decouverte automatique dns": "dns_autodiscovery",
    "intervalle d'activation": "activation_interval",
    "intervalle de renouvellement": "renewal_interval",
    "nombre actuel": "current_count",
    "decompte actuel": "current_count",
    "ecoute sur le port": "listening_port",
    "priorite kms": "priority",
    "nombre total de requetes recues": "total_requests",
    "requetes ayant echoue recues": "failed_requests",
    "nombre total de demandes recues": "total_requests",
    "demandes ayant echoue recues": "failed_requests",
    "version du service de gestion de licences des logiciels": "version",
    "id d'ordinateur client (cmid)": "cmid",
    "nom d'ordinateur kms a partir de dns": "kms_dns",
    "nom d'ordinateur kms provenant du dns": "kms_dns",
    "adresse ip d'ordinateur kms": "kms_ip",
    "pid etendu d'ordinateur kms": "kms_pid",
}

_DE = {
    "version des softwarelizenzierungsdiensts": "version",
    "beschreibung": "description",
    "aktivierungs-id": "activation_id",
    "anwendungs-id": "application_id",
    "erweiterte pid": "extended_pid",
    "product key-kanal": "product_key_channel",
    "produktschlusselkanal": "product_key_channel",
    "teilweiser product key": "partial_key",
    "teil-product key": "partial_key",
    "product key (teilweise)": "partial_key",
    "lizenzstatus": "license_status",
    "ablauf der volumenaktivierung": "expiration",
    "verbleibende zeit": "expiration",
    "benachrichtigungsgrund": "notification_reason",
    "vertrauenswurdige zeit": "trusted_time",
    "clientcomputer-id (cmid)": "cmid",
    "kms-computername aus dns": "kms_dns",
    "registrierter kms-computername": "kms_registered",
    "ip-adresse des kms-computers": "kms_ip",
    "erweiterte pid des kms-computers": "kms_pid",
    "dns-autoermittlung": "dns_autodiscovery",
    "aktivierungsintervall": "activation_interval",
    "erneuerungsintervall": "renewal_interval",
    "aktuelle anzahl": "current_count",
    "lauschen an port": "listening_port",
    "lauschen am port": "listening_port",
    "uberwachung an port": "listening_port",
    "kms-prioritat": "priority",
    "insgesamt empfangene anforderungen": "total_requests",
    "empfangene fehlgeschlagene anforderungen": "failed_requests",
}

_ES = {
    "version del servicio de licencias de software": "version",
    "nombre": "name",
    "descripcion": "description",
    "id. de activacion": "activation_id",
    "id. de aplicacion": "application_id",
    "pid extendido": "extended_pid",
    "canal de clave de producto": "product_key_channel",
    "clave de producto parcial": "partial_key",
    "estado de la licencia": "license_status",
    "expiracion de activacion por volumen": "expiration",
    "tiempo restante": "expiration",
    "motivo de la notificacion": "notification_reason",
    "razon de la notificacion": "notification_reason",
    "hora de confianza": "trusted_time",
    "id. de equipo cliente (cmid)": "cmid",
    "nombre de equipo kms desde dns": "kms_dns",
    "nombre de equipo kms registrado": "kms_registered",
    "direccion ip de equipo kms": "kms_ip",
    "pid extendido de equipo kms": "kms_pid",
    "deteccion automatica de dns": "dns_autodiscovery",
    "intervalo de activacion": "activation_interval",
    "intervalo de renovacion": "renewal_interval",
    "recuento actual": "current_count",
    "escuchando en el puerto": "listening_port",
    "prioridad de kms": "priority",
    "total de solicitudes recibidas": "total_requests",
    "solicitudes con error recibidas": "failed_requests",
}

LABELS: dict[str, str] = {**_EN, **_FR, **_DE, **_ES}

# Lines without a colon: (field, value).
FLAG_LINES: dict[str, tuple[str, str]] = {
    "key management service is enabled on this machine": ("kms_enabled", "1"),
    "le service de gestion de cles est active sur cet ordinateur": ("kms_enabled", "1"),
    "dns publishing enabled": ("dns_publishing", "1"),
    "dns publishing disabled": ("dns_publishing", "0"),
    "publication dns activee": ("dns_publishing", "1"),
    "publication dns desactivee": ("dns_publishing", "0"),
    "kms host caching is enabled": ("host_caching", "1"),
    "kms host caching is disabled": ("host_caching", "0"),
    "la mise en cache de l'hote kms est activee": ("host_caching", "1"),
    "la mise en cache de l'hote kms est desactivee": ("host_caching", "0"),
    "key management service client information": ("client_section", "1"),
    "informations sur le client du service de gestion de cles": ("client_section", "1"),
    "der schlusselverwaltungsdienst ist auf diesem computer aktiviert": ("kms_enabled", "1"),
    "kms-hostzwischenspeicherung ist aktiviert": ("host_caching", "1"),
    "kms-hostzwischenspeicherung ist deaktiviert": ("host_caching", "0"),
    "die kms-hostzwischenspeicherung ist aktiviert": ("host_caching", "1"),
    "die kms-hostzwischenspeicherung ist deaktiviert": ("host_caching", "0"),
    "dns-veroffentlichung aktiviert": ("dns_publishing", "1"),
    "dns-veroffentlichung deaktiviert": ("dns_publishing", "0"),
    "informationen zum schlusselverwaltungsdienst-client": ("client_section", "1"),
    "el servicio de administracion de claves esta habilitado en este equipo": (
        "kms_enabled",
        "1",
    ),
    "publicacion dns habilitada": ("dns_publishing", "1"),
    "publicacion dns deshabilitada": ("dns_publishing", "0"),
    "informacion del cliente del servicio de administracion de claves": ("client_section", "1"),
}

_REQUEST_PREFIXES = (
    "requests with license status ",
    "requetes avec l'etat de licence ",
    "demandes avec l'etat de licence ",
    "anforderungen mit lizenzstatus ",
    "solicitudes con estado de licencia ",
)

# Words of a License Status value, most specific first ("unlicensed" before "licensed").
STATUS_WORDS: tuple[tuple[str, LicenseState], ...] = (
    ("unlicensed", LicenseState.UNLICENSED),
    ("sans licence", LicenseState.UNLICENSED),
    ("nicht lizenziert", LicenseState.UNLICENSED),
    ("sin licencia", LicenseState.UNLICENSED),
    ("non-genuine", LicenseState.NON_GENUINE_GRACE),
    ("non authentique", LicenseState.NON_GENUINE_GRACE),
    ("nicht originale", LicenseState.NON_GENUINE_GRACE),
    ("nicht-originale", LicenseState.NON_GENUINE_GRACE),
    ("initial grace", LicenseState.INITIAL_GRACE),
    ("out-of-box", LicenseState.INITIAL_GRACE),
    ("grace initiale", LicenseState.INITIAL_GRACE),
    ("anfangliche toleranz", LicenseState.INITIAL_GRACE),
    ("periodo de gracia inicial", LicenseState.INITIAL_GRACE),
    ("additional grace", LicenseState.OUT_OF_TOLERANCE_GRACE),
    ("out-of-tolerance", LicenseState.OUT_OF_TOLERANCE_GRACE),
    ("grace supplementaire", LicenseState.OUT_OF_TOLERANCE_GRACE),
    ("hors tolerance", LicenseState.OUT_OF_TOLERANCE_GRACE),
    ("zusatzliche toleranz", LicenseState.OUT_OF_TOLERANCE_GRACE),
    ("ausserhalb der toleranz", LicenseState.OUT_OF_TOLERANCE_GRACE),
    ("lizenz abgelaufen", LicenseState.OUT_OF_TOLERANCE_GRACE),
    ("extended grace", LicenseState.EXTENDED_GRACE),
    ("grace etendue", LicenseState.EXTENDED_GRACE),
    ("erweiterte toleranz", LicenseState.EXTENDED_GRACE),
    ("notification", LicenseState.NOTIFICATION),
    ("benachrichtigung", LicenseState.NOTIFICATION),
    ("notificacion", LicenseState.NOTIFICATION),
    ("licensed", LicenseState.LICENSED),
    ("avec licence", LicenseState.LICENSED),
    ("sous licence", LicenseState.LICENSED),
    ("lizenziert", LicenseState.LICENSED),
    ("con licencia", LicenseState.LICENSED),
)


def fallback_field(label: str) -> str | None:
    """Field of a label not in the tables: cumulative request lines, or None."""
    for prefix in _REQUEST_PREFIXES:
        if label.startswith(prefix):
            return "requests:" + label[len(prefix) :]
    return None


# German written without umlauts: "ae", "oe", "ue" for "ä", "ö", "ü" and "ss" for "ß".
_DIGRAPHS = re.compile(r"(?<=[a-z])(ae|oe|ue)")


def fold(label: str) -> str:
    """A normalised label with German umlauts and their spelled-out forms written alike:
    ``schlusselverwaltungsdienst`` and ``schluesselverwaltungsdienst`` both fold to the
    same text (both sides of a comparison must be folded)."""
    return _DIGRAPHS.sub(lambda m: m.group(1)[0], label.replace("ß", "ss"))


_FOLDED_LABELS = {fold(key): name for key, name in LABELS.items()}
_FOLDED_FLAGS = {fold(key): value for key, value in FLAG_LINES.items()}
_FOLDED_PREFIXES = tuple(fold(prefix) for prefix in _REQUEST_PREFIXES)
_FOLDED_WORDS = tuple((fold(words), state) for words, state in STATUS_WORDS)


def field_of(label: str) -> str | None:
    """The field of a normalised label (any known language, umlauts or not), or None."""
    found = LABELS.get(label) or fallback_field(label)
    if found is not None:
        return found
    folded = fold(label)
    found = _FOLDED_LABELS.get(folded)
    if found is not None:
        return found
    for prefix in _FOLDED_PREFIXES:
        if folded.startswith(prefix):
            return "requests:" + folded[len(prefix) :]
    return field_by_words(folded)


def flag_of(line: str) -> tuple[str, str] | None:
    """(field, value) of a line without a colon ("DNS publishing enabled"), or None."""
    key = normalize_label(line).rstrip(". ")
    return FLAG_LINES.get(key) or _FOLDED_FLAGS.get(fold(key)) or flag_by_words(fold(key))


def state_of(value: str) -> LicenseState | None:
    """The license state a License Status value names, in any known language, or None."""
    raw = fold(normalize_label(value))
    for words, state in _FOLDED_WORDS:
        if raw and words in raw:
            return state
    return None
