"""What the publisher decides when a host or a MAK client asks to be activated.

:class:`Authority` is the one place that turns a request into a certificate or a ticket:
the service calls it for every online request, and ``publisher activate-host`` (the offline
file path) calls it too. A request is decoded and checked first, the key is then claimed in
the records (atomically: :mod:`openkms.publisher.records`), and only a granted claim is
signed. The claim carries the machine's phone reference, so a machine activated by phone
before (or after) is the same machine (:mod:`openkms.publisher.machines`). A refused or
malformed request changes no record.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec

from openkms.core.certificate import (
    ACTIVATION_REQUEST_DOMAIN,
    CERTIFICATE_DOMAIN,
    CERTIFICATE_FORMAT,
    REQUEST_FORMAT,
    ActivationRequestFile,
    CertificateFile,
    HostActivationRequest,
    HostCertificate,
)
from openkms.core.codes import ResultCode
from openkms.core.keys import KeyKind, ProductKey
from openkms.core.publisher_api import (
    MAK_RESPONSE_FORMAT,
    MakActivationResponse,
    check_machine_name,
    decode_mak_request,
)
from openkms.core.signing import fingerprint, sign, verify
from openkms.core.ticket import TicketBody, TicketSigner
from openkms.errors import KeyFormatError, OpenKMSError, SignatureError
from openkms.i18n import _
from openkms.publisher._revoked_hosts import refuse_revoked, refused_online
from openkms.publisher.machines import host_phone_ref, mak_phone_ref
from openkms.publisher.records import ClaimRequest, PublisherRecords, claim_error

if TYPE_CHECKING:
    from openkms.publisher.publisher import Publisher

__all__ = ["Authority", "decode_host_request"]


class Authority:
    """Activations of hosts and MAK clients, over a publisher directory and its records."""

    def __init__(
        self,
        publisher: Publisher,
        records: PublisherRecords,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.publisher = publisher
        self.records = records
        self._clock = clock

    async def activate_host(self, data: bytes, actor: str, days: int | None = None) -> bytes:
        """A certificate file for the host activation request ``data`` (key limits enforced)."""
        request = decode_host_request(data)
        trust = self.publisher.trust()
        key = ProductKey.parse(request.host_key)
        now = int(self._clock())
        phone_ref = host_phone_ref(request.host_public_key, request.host_fingerprint)
        refuse_revoked(
            refused_online(self.publisher.directory, trust, request.host_fingerprint, phone_ref)
        )
        claim = await self.records.claim(
            ClaimRequest(
                key.key_id,
                KeyKind.HOST,
                request.host_fingerprint,
                request.machine_name,
                now,
                actor,
                phone_ref,
            )
        )
        if not claim.outcome.granted or claim.key is None or claim.key.group is None:
            raise claim_error(claim)
        validity = (days if days is not None else trust.catalog.certificate_days) * 86400
        cert = HostCertificate(
            serial=secrets.token_hex(8),
            application_id=trust.catalog.application_id,
            host_fingerprint=request.host_fingerprint,
            host_public_key=request.host_public_key,
            host_key_id=key.key_id,
            group=claim.key.group,
            issued_at=now - 300,
            expires_at=now + validity,
        )
        envelope = sign(self.publisher.root_key(), CERTIFICATE_DOMAIN, msgspec.msgpack.encode(cert))
        out = CertificateFile(CERTIFICATE_FORMAT, envelope, trust.to_json())
        return msgspec.json.format(msgspec.json.encode(out), indent=2) + b"\n"

    async def activate_mak(self, data: bytes, actor: str) -> bytes:
        """The response (JSON, a MAK ticket) to the MAK activation request ``data``."""
        request, key = decode_mak_request(data)
        trust = self.publisher.trust()
        product = trust.catalog.product(request.activation_id)
        issued = await self.records.key(key.key_id)
        if product is None or (
            issued is not None and issued.activation_id != product.activation_id
        ):
            raise KeyFormatError(_("This MAK is not for a product of the publisher's catalog."))
        now = int(self._clock())
        phone_ref = mak_phone_ref(request.cmid)
        claim = await self.records.claim(
            ClaimRequest(
                key.key_id, KeyKind.MAK, request.cmid, request.machine_name, now, actor, phone_ref
            )
        )
        if not claim.outcome.granted:
            raise claim_error(claim)
        signer = self.publisher.mak_signer(now)
        body = TicketBody(
            cmid=uuid.UUID(request.cmid).bytes,
            activation_id=product.activation_id,
            count=0,
            n_policy=product.n_policy,
            issued_at=now,
            valid_until=signer.certificate.expires_at,
        )
        ticket = TicketSigner(signer.private_key, signer.envelope).issue(body)
        return msgspec.json.encode(MakActivationResponse(MAK_RESPONSE_FORMAT, ticket))


def decode_host_request(data: bytes) -> HostActivationRequest:
    """Decode a host activation request file and check its proof of possession."""
    try:
        wrapper = msgspec.json.decode(data, type=ActivationRequestFile)
        if wrapper.format != REQUEST_FORMAT:
            raise _not_a_request(_("format {format!r}").format(format=str(wrapper.format)[:60]))
        request = msgspec.msgpack.decode(wrapper.request.body, type=HostActivationRequest)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise _not_a_request(str(exc)[:200]) from None
    if not verify(request.host_public_key, ACTIVATION_REQUEST_DOMAIN, wrapper.request):
        raise SignatureError(
            _("The activation request's signature does not match its host key."),
            code=ResultCode.CERTIFICATE_INVALID,
            fix=_("Create the request again with 'openkms host activation-request'."),
        )
    if not request.host_fingerprint.startswith(fingerprint(request.host_public_key) + ":"):
        raise SignatureError(
            _("The activation request's fingerprint does not belong to its public key."),
            code=ResultCode.CERTIFICATE_INVALID,
        )
    if len(request.host_fingerprint) > 200:
        raise _not_a_request(_("the host fingerprint is too long"))
    check_machine_name(request.machine_name)
    return request


def _not_a_request(reason: str) -> OpenKMSError:
    return OpenKMSError(
        _("not a host activation request: {reason}").format(reason=reason),
        code=ResultCode.REQUEST_INVALID,
        fix=_("Create the request with 'openkms host activation-request' (or 'host ato')."),
    )
