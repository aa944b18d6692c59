"""A host activated by phone: ``host dti`` prints its installation ID, ``host atp`` installs.

The confirmation ID becomes a phone certificate (:class:`~openkms.core.certificate.
PhoneCertificate`), written to ``certificate.json`` like a certificate file from the
publisher, so everything that reads the host's activation (serve, dli, the tickets its
clients verify) works unchanged.
"""

from __future__ import annotations

import msgspec

from openkms.core.certificate import (
    CERTIFICATE_FORMAT,
    PHONE_CERTIFICATE_FORMAT,
    CertificateFile,
    HostCertificate,
    PhoneCertificate,
    phone_certificate_envelope,
)
from openkms.core.codes import ResultCode
from openkms.core.keys import ProductKey
from openkms.core.phone import (
    ConfirmationId,
    InstallationId,
    PhoneFacts,
    PhoneKind,
    confirmed_installation,
    host_reference,
    key_reference,
)
from openkms.core.signing import public_bytes
from openkms.core.trust import Trust
from openkms.errors import KeyFormatError, SignatureError, StateError
from openkms.host.state import HostState
from openkms.i18n import _

__all__ = ["host_installation_id", "install_confirmation"]


def _host_key(state: HostState) -> ProductKey:
    key = state.host_key()
    if key is None:
        raise KeyFormatError(code=ResultCode.NO_PRODUCT_KEY)
    return key.require_text(_("phone activation"), "openkms host --store DIR ipk HOST-KEY")


def _installation_on(state: HostState, key: ProductKey, day: int) -> InstallationId:
    public = public_bytes(state.private_key())
    reference = host_reference(public, state.fingerprint)
    return InstallationId(PhoneKind.HOST, 0, key_reference(key), reference, day)


def host_installation_id(state: HostState, now: int) -> InstallationId:
    """The host's installation ID today (reads the store, writes nothing)."""
    return _installation_on(state, _host_key(state), now // 86400)


def _trust(state: HostState) -> Trust:
    trust = state.trust()
    if trust is None:
        raise StateError(code=ResultCode.TRUST_MISSING)
    if not trust.catalog.phone_key:
        raise StateError(
            _(
                "The pinned catalog has no phone key: this publisher's confirmation IDs cannot "
                "be verified."
            ),
            fix=_(
                "Install the publisher's current trust.json (signed by 'publisher "
                "sign-catalog' of this version) with 'host ipk KEY --trust FILE'."
            ),
        )
    return trust


def install_confirmation(state: HostState, text: str, now: int) -> HostCertificate:
    """``atp``: verify the confirmation ID against the pinned publisher, install it.

    OpenKMSError naming a mistyped group (0xE0040030), or CONFIRMATION_INVALID
    (0xE0040031) when it confirms nothing this host asked for (another machine, key,
    installation ID or grant, or another publisher).
    """
    cid = ConfirmationId.parse(text)
    key = _host_key(state)
    trust = _trust(state)
    catalog = trust.catalog
    refused = SignatureError(
        _(
            "The confirmation ID does not confirm this host's installation ID (it was made for "
            "another machine, key or installation ID, or mistyped in more than one digit)."
        ),
        code=ResultCode.CONFIRMATION_INVALID,
    )
    if cid.group_rank >= len(catalog.groups):
        raise refused
    group = catalog.groups[cid.group_rank]
    facts = PhoneFacts(catalog.application_id, key.key_id, group=group)
    iid = confirmed_installation(
        catalog.phone_key,
        lambda day: _installation_on(state, key, day),
        cid,
        facts,
        now // 86400,
    )
    if iid is None:
        raise refused
    phone = PhoneCertificate(
        PHONE_CERTIFICATE_FORMAT,
        iid.data_digits,
        cid.data_digits,
        group,
        public_bytes(state.private_key()),
        state.fingerprint,
        key.key_id,
    )
    document = CertificateFile(
        CERTIFICATE_FORMAT, phone_certificate_envelope(phone), trust.to_json()
    )
    data = msgspec.json.format(msgspec.json.encode(document), indent=2) + b"\n"
    return state.install_certificate(data, now)
