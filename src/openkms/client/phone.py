"""A MAK client activated by phone: ``client dti`` and ``client atp``.

After ``atp`` the client stores its *phone ticket* (the installation and confirmation IDs,
``ClientState.phone_ticket``) and is Licensed on the MAK channel for as long as the
confirmation grants, verifiable offline from the store alone: :func:`verify_phone_ticket`
rebuilds the installation ID from the installed MAK and the CMID and checks the signature
against the pinned catalog's phone key.

The seam with online MAK activation: a license is valid until the later of a verified
ticket (KMS or MAK) and a verified phone ticket (see ``ClientSnapshot.license``); each
activation path stores its own proof, and ``ipk``/``upk``/``rearm`` clear both.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import msgspec

from openkms.client.mak import installed_mak
from openkms.client.state import ClearedMak, ClientState
from openkms.core.codes import ResultCode
from openkms.core.keys import ProductKey
from openkms.core.phone import (
    ConfirmationId,
    InstallationId,
    PhoneFacts,
    PhoneKind,
    confirmed_installation,
    key_reference,
    machine_reference,
    product_tag_number,
    verify_confirmation,
)
from openkms.core.trust import Trust
from openkms.errors import OpenKMSError, SignatureError, StateError
from openkms.i18n import _

__all__ = [
    "PHONE_TICKET_FORMAT",
    "PhoneTicket",
    "VerifiedPhoneTicket",
    "clear_mak",
    "confirm_phone",
    "installation_id",
    "mak_reference",
    "verify_phone_ticket",
]

PHONE_TICKET_FORMAT = "openkms-phone-ticket/1"


class PhoneTicket(msgspec.Struct, frozen=True, array_like=True):
    """What a MAK client keeps after ``atp``: both IDs' data digits."""

    format: str
    installation_id: str
    confirmation_id: str


@dataclass(frozen=True, slots=True)
class VerifiedPhoneTicket:
    """A phone ticket that verified for this machine, key and product."""

    installation_id: InstallationId
    confirmation_id: ConfirmationId

    @property
    def issued_at(self) -> int:
        """The start of the day the installation ID was made (UTC)."""
        return self.installation_id.day * 86400

    @property
    def valid_until(self) -> int:
        """When the granted days end."""
        return (self.installation_id.day + self.confirmation_id.days) * 86400


def clear_mak(key: ProductKey) -> ClearedMak:
    """What ``cpky`` keeps of the MAK ``key``: enough to verify its phone activation."""
    return ClearedMak(key.key_id, key.product_tag, key_reference(key))


def mak_reference(state: ClientState) -> ClearedMak | None:
    """The installed MAK's key ID, product tag and phone reference (also after ``cpky``)."""
    key = installed_mak(state.setup_key)
    if key is not None:
        return clear_mak(key)
    return state.cleared_mak if state.setup_key is None else None


def _mak(state: ClientState) -> ClearedMak:
    mak = mak_reference(state)
    if mak is None:
        raise OpenKMSError(
            _("Phone activation needs a MAK installed (a KMS client activates with its host)."),
            code=ResultCode.NO_PRODUCT_KEY,
            fix=_("Install the MAK with 'client ipk MAK', then run 'client dti'."),
        )
    return mak


def _installation_on(mak: ClearedMak, cmid: str, day: int) -> InstallationId:
    tag = product_tag_number(mak.product_tag)
    machine = machine_reference(uuid.UUID(cmid).bytes)
    return InstallationId(PhoneKind.MAK, tag, mak.phone_reference, machine, day)


def installation_id(state: ClientState, now: int) -> InstallationId:
    """The client's installation ID on the day of ``now`` (needs a MAK installed)."""
    return _installation_on(_mak(state), state.cmid, now // 86400)


def _facts(state: ClientState, trust: Trust, key: ClearedMak) -> PhoneFacts:
    if state.activation_id is None:
        raise StateError(code=ResultCode.NO_PRODUCT_KEY)
    return PhoneFacts(trust.catalog.application_id, key.key_id, activation_id=state.activation_id)


def confirm_phone(state: ClientState, trust: Trust, text: str, now: int) -> VerifiedPhoneTicket:
    """``atp``: verify the confirmation ID ``text`` and store the phone ticket in ``state``.

    OpenKMSError naming a mistyped group (0xE0040030), or CONFIRMATION_INVALID
    (0xE0040031) when it confirms nothing this machine asked for.
    """
    cid = ConfirmationId.parse(text)
    key = _mak(state)
    if not trust.catalog.phone_key:
        raise StateError(
            _("The pinned catalog has no phone key: confirmation IDs cannot be verified."),
            fix=_("Install the publisher's current trust.json (client ipk MAK --trust FILE)."),
        )
    iid = confirmed_installation(
        trust.catalog.phone_key,
        lambda day: _installation_on(key, state.cmid, day),
        cid,
        _facts(state, trust, key),
        now // 86400,
    )
    if iid is None:
        raise SignatureError(
            _(
                "The confirmation ID does not confirm this machine's installation ID (it was "
                "made for another machine, key or installation ID, or mistyped in more than one "
                "digit)."
            ),
            code=ResultCode.CONFIRMATION_INVALID,
        )
    ticket = PhoneTicket(PHONE_TICKET_FORMAT, iid.data_digits, cid.data_digits)
    state.phone_ticket = msgspec.msgpack.encode(ticket)
    return VerifiedPhoneTicket(iid, cid)


def verify_phone_ticket(state: ClientState, trust: Trust | None) -> VerifiedPhoneTicket | None:
    """The stored phone ticket, verified for this machine, MAK and product (None if not)."""
    if state.phone_ticket is None or trust is None or not trust.catalog.phone_key:
        return None
    try:
        key = _mak(state)
        ticket = msgspec.msgpack.decode(state.phone_ticket, type=PhoneTicket)
        iid = InstallationId.from_data_digits(ticket.installation_id, PhoneKind.MAK)
        cid = ConfirmationId.from_data_digits(ticket.confirmation_id)
        facts = _facts(state, trust, key)
    except (msgspec.DecodeError, ValueError, OpenKMSError):
        return None
    if ticket.format != PHONE_TICKET_FORMAT or iid != _installation_on(key, state.cmid, iid.day):
        return None
    if not any(  # the current phone key, or a retired root key's for an older grant
        root.phone_key
        and root.honours(iid.day * 86400)
        and verify_confirmation(root.phone_key, iid, cid, facts)
        for root in trust.root_keys
    ):
        return None
    return VerifiedPhoneTicket(iid, cid)
