"""The publisher's side of phone activation: confirm an installation ID read out by phone.

:func:`confirm_installation` parses the installation ID, finds the key it names among the
keys of the publisher's records (:func:`issued_keys`), checks it, then claims one of the
key's activations in the records exactly as online activation does
(:meth:`~openkms.publisher.records.PublisherRecords.claim`: atomic, the same limits, blocks
and audit line), and only then signs the confirmation ID with the phone key derived from
the root key. A refused installation ID changes no record.

A phone activation names the machine by its *phone reference* ``phone:<hex>`` (the hashed
CMID of a MAK client, the hashed public key and fingerprint of a host). Online activation
records the same reference beside the CMID or fingerprint, so the records find the machine
whichever way it activated (:mod:`openkms.publisher.machines`): the same machine asking
again, by phone or online, uses no second activation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from openkms.core.catalog import Catalog
from openkms.core.codes import ResultCode
from openkms.core.keys import KeyKind, ProductKey
from openkms.core.phone import (
    IID_MAX_AGE_DAYS,
    MAX_GRANT_DAYS,
    ConfirmationId,
    InstallationId,
    PhoneFacts,
    PhoneKind,
    confirm,
    key_reference,
    product_tag_number,
)
from openkms.core.shortsig import PhoneSigningKey
from openkms.errors import KeyFormatError, OpenKMSError, StateError
from openkms.i18n import _
from openkms.publisher._revoked_hosts import refuse_revoked, refused_by_phone_ref
from openkms.publisher.publisher import Publisher
from openkms.publisher.records import (
    ClaimRequest,
    IssuedKey,
    PublisherRecords,
    claim_error,
    phone_machine,
)

__all__ = ["MAK_PHONE_DAYS", "PHONE_MACHINE_NAME", "Confirmation", "confirm_installation"]

MAK_PHONE_DAYS = 3650  # a MAK activated by phone: ten years (Windows: for good)
PHONE_MACHINE_NAME = "by phone"  # the records' machine name of a phone activation
_KINDS = {PhoneKind.MAK: KeyKind.MAK, PhoneKind.HOST: KeyKind.HOST}


@dataclass(frozen=True, slots=True)
class Confirmation:
    """What ``publisher confirm`` prints."""

    installation_id: str
    confirmation_id: str
    kind: str
    partial_product_key: str
    product: str  # the MAK's activation ID, or the host key's license group
    days: int
    valid_until: str


@dataclass(frozen=True, slots=True)
class _Grant:
    """What the confirmation ID will carry for the key found."""

    issued: IssuedKey
    key: ProductKey
    days: int
    rank: int
    product: str
    facts: PhoneFacts


async def _find(records: PublisherRecords, iid: InstallationId) -> tuple[IssuedKey, ProductKey]:
    """The recorded key the installation ID names (by its key reference and kind)."""
    kind = _KINDS[iid.kind]
    found = [
        (issued, key)
        for issued in await records.keys()
        if issued.kind is kind and key_reference(key := ProductKey.parse(issued.key)) == iid.key_ref
    ]
    if len(found) != 1 or (
        iid.kind is PhoneKind.MAK and product_tag_number(found[0][1].product_tag) != iid.product_tag
    ):
        raise KeyFormatError(
            _("The installation ID names no key this publisher issued."),
            fix=_(
                "Check that the machine installed a key of this publisher (a MAK for a client, "
                "a host key for a host) and read the installation ID again."
            ),
        )
    return found[0]


def _check_day(iid: InstallationId, today: int) -> None:
    if not today - IID_MAX_AGE_DAYS <= iid.day <= today + 1:
        made = dt.date(1970, 1, 1) + dt.timedelta(days=iid.day)
        raise OpenKMSError(
            _(
                "The installation ID was made on {made}: more than {iid_max_age_days} "
                "days ago, or in the future."
            ).format(made=made.isoformat(), iid_max_age_days=IID_MAX_AGE_DAYS),
            code=ResultCode.CLOCK_SKEW,
            fix=_("Set the machine's clock right and make a new installation ID with 'dti'."),
        )


def _grant(issued: IssuedKey, key: ProductKey, catalog: Catalog, days: int | None) -> _Grant:
    """The grant for a MAK (its product) or a host key (its license group)."""
    if issued.kind is KeyKind.MAK:
        activation_id = issued.activation_id or ""
        if catalog.product(activation_id) is None:
            raise KeyFormatError(_("This MAK is not for a product of the publisher's catalog."))
        granted = min(days or MAK_PHONE_DAYS, MAX_GRANT_DAYS)
        facts = PhoneFacts(catalog.application_id, key.key_id, activation_id)
        return _Grant(issued, key, granted, 0, activation_id, facts)
    group = issued.group or ""
    if group not in catalog.groups:
        raise StateError(
            _("the host key's license group {group!r} is not in the catalog").format(group=group)
        )
    granted = min(days or catalog.certificate_days, MAX_GRANT_DAYS)
    facts = PhoneFacts(catalog.application_id, key.key_id, group=group)
    return _Grant(issued, key, granted, catalog.group_rank(group), group, facts)


def _phone_key(publisher: Publisher, catalog: Catalog) -> PhoneSigningKey:
    phone = PhoneSigningKey.derive(publisher.root_key().private_bytes_raw())
    if phone.public_key != catalog.phone_key:
        raise StateError(
            _(
                "trust.json carries no phone key of this root key: clients could not verify a "
                "confirmation ID."
            ),
            fix=_(
                "Run 'openkms publisher sign-catalog DIR' and give the new trust.json to the "
                "hosts and clients."
            ),
        )
    return phone


async def _confirm(
    publisher: Publisher, records: PublisherRecords, iid: InstallationId, days: int | None
) -> Confirmation:
    now = publisher.now()
    _check_day(iid, now // 86400)
    trust = publisher.trust()
    catalog = trust.catalog
    phone = _phone_key(publisher, catalog)
    grant = _grant(*await _find(records, iid), catalog, days)
    machine = phone_machine(iid.machine)
    if grant.issued.kind is KeyKind.HOST:  # a revoked host is not certified again
        refuse_revoked(await refused_by_phone_ref(publisher.directory, trust, records, machine))
    claim = await records.claim(
        ClaimRequest(
            grant.key.key_id,
            grant.issued.kind,
            machine,
            PHONE_MACHINE_NAME,
            now,
            publisher.actor + " (phone)",
            machine,
        )
    )
    if not claim.outcome.granted:
        raise claim_error(claim)
    cid = confirm(phone, iid, grant.days, grant.rank, grant.facts)
    return _confirmation(iid, cid, grant)


def confirm_installation(publisher: Publisher, text: str, days: int | None = None) -> Confirmation:
    """The confirmation ID for the installation ID ``text``; the activation is recorded.

    OpenKMSError naming the mistyped group, an unknown key (0xC004F050), a key past its
    limit (0xC004C008) or blocked (0xC004C003), or an installation ID out of date.
    """
    iid = InstallationId.parse(text)
    with publisher.records() as db:
        return db.run(_confirm(publisher, db.records, iid, days))


def _confirmation(iid: InstallationId, cid: ConfirmationId, grant: _Grant) -> Confirmation:
    until = dt.date(1970, 1, 1) + dt.timedelta(days=iid.day + cid.days)
    return Confirmation(
        installation_id=str(iid),
        confirmation_id=str(cid),
        kind=iid.kind.name.lower(),
        partial_product_key=grant.key.partial,
        product=grant.product,
        days=cid.days,
        valid_until=until.isoformat(),
    )
