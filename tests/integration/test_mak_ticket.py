"""MAK tickets: signed by the MAK service's certificate (role "mak"), no count, one machine."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import msgspec
import pytest

from openkms.core.certificate import (
    CERTIFICATE_DOMAIN,
    CERTIFICATE_FORMAT,
    CertificateFile,
    HostCertificate,
    verify_certificate,
)
from openkms.core.keys import ProductKey
from openkms.core.publisher_api import (
    MAK_REQUEST_FORMAT,
    MakActivationRequest,
    MakActivationResponse,
)
from openkms.core.signing import public_bytes, sign
from openkms.core.ticket import TicketBody, TicketSigner, verify_ticket
from openkms.errors import KeyFormatError, OpenKMSError, SignatureError
from openkms.publisher.authority import Authority
from openkms.publisher.database import open_records

from helpers import Site

CMID = uuid.uuid4()


def _request(key: ProductKey, activation_id: str, cmid: uuid.UUID = CMID) -> bytes:
    request = MakActivationRequest(MAK_REQUEST_FORMAT, str(key), str(cmid), "pc1", activation_id)
    return msgspec.json.encode(request)


def _activate(site: Site, data: bytes) -> bytes:
    async def main() -> bytes:
        publisher = site.publisher
        records = await open_records(publisher.directory, None, publisher.trust().catalog)
        try:
            answer = await Authority(publisher, records).activate_mak(data, "test")
        finally:
            await records.close()
        return msgspec.json.decode(answer, type=MakActivationResponse).ticket

    return asyncio.run(main())


def test_a_mak_ticket_verifies_for_its_machine_and_product_without_a_count(site: Site) -> None:
    key, product = site.publisher.issue_mak("Enterprise", 3)
    assert product.n_policy == 5
    ticket = _activate(site, _request(key, product.activation_id))
    now = int(time.time())
    verified = verify_ticket(
        ticket,
        site.publisher.trust(),
        cmid=CMID.bytes,
        activation_id=product.activation_id,
        now=now,
    )
    assert verified.mak and verified.body.count == 0
    assert verified.body.valid_until == verified.certificate.expires_at
    with pytest.raises(SignatureError, match="another machine"):
        verify_ticket(
            ticket,
            site.publisher.trust(),
            cmid=uuid.uuid4().bytes,
            activation_id=product.activation_id,
            now=now,
        )


def test_a_mak_for_another_product_or_a_setup_key_is_refused(site: Site) -> None:
    key, _ = site.publisher.issue_mak("Enterprise", 3)
    with pytest.raises(KeyFormatError, match="another product"):
        _activate(site, _request(key, site.product("Web").activation_id))
    setup = ProductKey(site.product("Web").setup_key)
    with pytest.raises(KeyFormatError, match="not a MAK"):
        _activate(site, _request(setup, site.product("Web").activation_id))
    (usage,) = [u for u in site.publisher.usage() if u.key.key == str(key)]
    assert usage.used == 0


def test_a_host_ticket_still_needs_its_count(site: Site) -> None:
    """The role, not the zero count, makes a MAK ticket: a host's count-0 ticket is refused."""
    activation = site.host_state.activation(int(time.time()))
    assert activation.certificate is not None and not activation.certificate.mak
    assert activation.envelope is not None
    signer = TicketSigner(site.host_state.private_key(), activation.envelope)
    now = int(time.time())
    product = site.product("Standard")
    body = TicketBody(CMID.bytes, product.activation_id, 0, 5, now, now + 10**6)
    with pytest.raises(SignatureError, match="count 0"):
        verify_ticket(
            signer.issue(body),
            site.publisher.trust(),
            cmid=CMID.bytes,
            activation_id=product.activation_id,
            now=now,
        )


def test_certificates_without_a_role_encode_as_before(site: Site) -> None:
    cert = HostCertificate("s", "a", "f", b"k", "id", "C", 1, 2)
    assert "role" not in msgspec.msgpack.decode(msgspec.msgpack.encode(cert))
    unknown = msgspec.structs.replace(cert, role="root", application_id="x")
    trust = site.publisher.trust()
    forged = msgspec.structs.replace(unknown, application_id=trust.catalog.application_id)
    envelope = sign(site.publisher.root_key(), CERTIFICATE_DOMAIN, msgspec.msgpack.encode(forged))
    with pytest.raises(SignatureError):
        verify_certificate(envelope, trust)


def test_a_host_never_installs_the_mak_service_certificate(site: Site, tmp_path: Path) -> None:
    signer = site.publisher.mak_signer(int(time.time()))
    assert signer.certificate.mak
    assert signer.certificate.host_public_key == public_bytes(signer.private_key)
    again = site.publisher.mak_signer(int(time.time()))
    assert again.certificate == signer.certificate  # kept while half its life is left
    later = site.publisher.mak_signer(int(time.time()) + 400 * 86400)
    assert later.certificate.serial != signer.certificate.serial  # renewed
    trust = site.publisher.trust()
    as_file = CertificateFile(CERTIFICATE_FORMAT, signer.envelope, trust.to_json())
    with pytest.raises(SignatureError, match="not a host certificate"):
        site.host_state.install_certificate(msgspec.json.encode(as_file), int(time.time()))


def test_a_used_up_mak_is_refused_with_0xc004c008(site: Site) -> None:
    key, product = site.publisher.issue_mak("Web", 1)
    _activate(site, _request(key, product.activation_id))
    _activate(site, _request(key, product.activation_id))  # the same machine again
    with pytest.raises(OpenKMSError) as refused:
        _activate(site, _request(key, product.activation_id, uuid.uuid4()))
    assert refused.value.code.hex == "0xC004C008"
    (usage,) = [u for u in site.publisher.usage() if u.key.key == str(key)]
    assert (usage.used, usage.machines[0].count) == (1, 2)
