"""Labels by their words, for the wordings the tables of ``_labels.py`` do not hold.

Windows' translations of ``slmgr`` changed between releases ("Überwachung an Port" and
"Lauschen an Port", "Nombre actuel" and "Décompte actuel", "Statut de la licence" and "État
de la licence"), and people paste output retyped or cut. A label the tables do not know is
recognised here by the words that make it (all of one rule's groups, each group any of its
stems), on the folded label (lower case, no accents, umlauts and their spelled-out forms
alike). Exact wordings are tried first; these rules only name fields the checks read.
"""

from __future__ import annotations

__all__ = ["flag_by_words", "field_by_words"]

_REQUEST = ("request", "demande", "requete", "anforderung", "solicitud")
_LICENSE = ("licen", "lizenz")
_STATUS = ("status", "etat", "statut", "estado")
_FAILED = ("fail", "echou", "echec", "fehl", "error")
_TOTAL = ("total", "gesamt")
_ACTIVATION = ("activation", "aktivierung", "activacion")
_RENEWAL = ("renewal", "renouvellement", "erneuerung", "renovacion")
_INTERVAL = ("interval",)

# (field, groups): the label names the field when it holds a stem of every group.
_RULES: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...] = (
    ("failed_requests", (_REQUEST, _FAILED)),
    ("total_requests", (_REQUEST, _TOTAL)),
    (
        "current_count",
        (("current", "actuel", "aktuell", "actual"), ("count", "decompte", "nombre", "anzahl")),
    ),
    ("listening_port", (("port", "puerto"), ("listen", "ecoute", "lausch", "uberwach", "escuch"))),
    ("license_status", (_LICENSE, _STATUS)),
    ("cmid", (("cmid",),)),
    ("activation_interval", (_ACTIVATION, _INTERVAL)),
    ("renewal_interval", (_RENEWAL, _INTERVAL)),
    ("trusted_time", (("trusted", "approuv", "vertrauenswurdig", "confianza"),)),
    (
        "notification_reason",
        (
            ("notification", "benachrichtigung", "notificacion"),
            ("reason", "raison", "motif", "grund", "motivo", "razon"),
        ),
    ),
    ("kms_pid", (("kms",), ("pid",))),
    ("kms_ip", (("kms",), ("ip",))),
    ("kms_registered", (("kms",), ("registered", "inscrit", "enregistr", "registrier"))),
    ("kms_dns", (("kms",), ("dns",), ("name", "nom", "nombre"))),
    ("priority", (("kms",), ("priori",))),
    (
        "partial_key",
        (
            ("partial", "partiel", "teilweise", "teil-", "parcial"),
            ("key", "cle", "schlussel", "clave"),
        ),
    ),
    ("product_key_channel", (("channel", "canal", "kanal"),)),
)

_ENABLED = ("enabl", "aktiviert", "activ", "habilit")
_DISABLED = ("disabl", "deaktiv", "desactiv", "deshabilit")
_KMS_SERVICE = (
    "key management service",
    "schlusselverwaltungsdienst",
    "service de gestion de cles",
    "servicio de administracion de claves",
)


def _has(label: str, stems: tuple[str, ...]) -> bool:
    return any(stem in label for stem in stems)


def field_by_words(folded: str) -> str | None:
    """The field a folded label names by its words, or None. A cumulative-requests line
    ("Anforderungen mit Lizenzstatus "Lizenziert"") is ``requests:`` and its label."""
    if _has(folded, _REQUEST) and _has(folded, _LICENSE) and _has(folded, _STATUS):
        return "requests:" + folded
    for field, groups in _RULES:
        if all(_has(folded, group) for group in groups):
            return field
    return None


def flag_by_words(folded: str) -> tuple[str, str] | None:
    """(field, value) of a folded line without a colon, by its words, or None."""
    if ":" in folded:
        return None
    state = "0" if _has(folded, _DISABLED) else "1" if _has(folded, _ENABLED) else None
    if (
        state is not None
        and "dns" in folded
        and _has(folded, ("publish", "veroffentlich", "publication", "publicacion"))
    ):
        return "dns_publishing", state
    if state is not None and "kms" in folded and _has(folded, ("cach", "zwischenspeicher")):
        return "host_caching", state
    if _has(folded, _KMS_SERVICE):
        if state == "1" and _has(folded, ("computer", "machine", "ordinateur", "equipo")):
            return "kms_enabled", "1"
        if "client" in folded and _has(folded, ("information", "informacion")):
            return "client_section", "1"
    return None
