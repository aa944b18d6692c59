"""A host activated by phone: its phone certificate verifies through the normal chain."""

from __future__ import annotations

import functools
import tempfile
import time
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkms.core.certificate import (
    CertificateFile,
    PhoneCertificate,
    phone_certificate_envelope,
    verify_certificate,
)
from openkms.core.codes import ResultCode
from openkms.core.phone import ConfirmationId
from openkms.core.signing import Envelope
from openkms.core.trust import Trust
from openkms.errors import OpenKMSError, SignatureError
from openkms.host.phone import host_installation_id, install_confirmation
from openkms.host.state import HostState
from openkms.publisher import Publisher
from openkms.publisher.phone import confirm_installation

NOW = int(time.time())


def host_with_key(publisher: Publisher, directory: Path, group: str = "B") -> HostState:
    state = HostState(directory, machine=directory.name)
    state.install_key(str(publisher.issue_host_key(group)), publisher.trust())
    return state


def phone_activate(publisher: Publisher, state: HostState) -> str:
    iid = host_installation_id(state, NOW)
    cid = confirm_installation(publisher, str(iid)).confirmation_id
    install_confirmation(state, cid, NOW)
    return cid


def installed(state: HostState) -> CertificateFile:
    data = (state.directory / "certificate.json").read_bytes()
    return msgspec.json.decode(data, type=CertificateFile)


@functools.cache
def hypothesis_trust() -> Trust:
    return Publisher.init(Path(tempfile.mkdtemp()) / "p", "Hypothesis").trust()


@pytest.fixture
def publisher(tmp_path: Path) -> Publisher:
    return Publisher.init(tmp_path / "pub", "Phone Host")


def test_the_phone_certificate_reads_as_a_host_certificate(
    publisher: Publisher, tmp_path: Path
) -> None:
    state = host_with_key(publisher, tmp_path / "h")
    phone_activate(publisher, state)
    activation = state.activation(NOW)
    cert = activation.certificate
    assert activation.problem is None and cert is not None
    assert cert.group == "B" and cert.host_fingerprint == state.fingerprint
    assert cert.host_key_id == state.host_key().key_id  # type: ignore[union-attr]
    assert cert.expires_at - cert.issued_at == 730 * 86400
    assert cert.valid_at(NOW)
    assert verify_certificate(installed(state).certificate, publisher.trust()) == cert


def test_a_confirmation_for_another_host_is_refused(publisher: Publisher, tmp_path: Path) -> None:
    first, second = (
        host_with_key(publisher, tmp_path / "h1"),
        host_with_key(publisher, tmp_path / "h2"),
    )
    cid = phone_activate(publisher, first)
    with pytest.raises(SignatureError) as info:
        install_confirmation(second, cid, NOW)
    assert info.value.code is ResultCode.CONFIRMATION_INVALID
    assert not (second.directory / "certificate.json").exists()


def test_an_altered_grant_is_refused(publisher: Publisher, tmp_path: Path) -> None:
    state = host_with_key(publisher, tmp_path / "h")
    cid = ConfirmationId.parse(
        confirm_installation(publisher, str(host_installation_id(state, NOW))).confirmation_id
    )
    for altered in (
        ConfirmationId(cid.days + 1, cid.group_rank, cid.signature),
        ConfirmationId(cid.days, cid.group_rank + 1, cid.signature),
    ):
        with pytest.raises(SignatureError) as info:
            install_confirmation(state, str(altered), NOW)
        assert info.value.code is ResultCode.CONFIRMATION_INVALID


def test_a_phone_certificate_copied_to_another_key_pair_does_not_verify(
    publisher: Publisher, tmp_path: Path
) -> None:
    state = host_with_key(publisher, tmp_path / "h")
    phone_activate(publisher, state)
    body = msgspec.msgpack.decode(installed(state).certificate.body, type=PhoneCertificate)
    trust = publisher.trust()
    for forged in (
        msgspec.structs.replace(body, host_public_key=bytes(32)),
        msgspec.structs.replace(body, host_fingerprint="0" * 32 + ":" + "0" * 16),
        msgspec.structs.replace(body, group="C"),
        msgspec.structs.replace(body, host_key_id="0" * 32),
    ):
        with pytest.raises(SignatureError) as info:
            verify_certificate(phone_certificate_envelope(forged), trust)
        assert info.value.code is ResultCode.CERTIFICATE_INVALID


def test_a_phone_certificate_of_another_publisher_does_not_verify(
    publisher: Publisher, tmp_path: Path
) -> None:
    other = Publisher.init(tmp_path / "other", "Other")
    state = host_with_key(other, tmp_path / "h")
    phone_activate(other, state)
    with pytest.raises(SignatureError):
        verify_certificate(installed(state).certificate, publisher.trust())


def test_dti_without_a_host_key_says_so(tmp_path: Path) -> None:
    with pytest.raises(OpenKMSError) as info:
        host_installation_id(HostState(tmp_path / "empty"), NOW)
    assert info.value.code is ResultCode.NO_PRODUCT_KEY


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_any_body_with_an_empty_signature_is_refused_cleanly(body: bytes) -> None:
    with pytest.raises(SignatureError):
        verify_certificate(Envelope(body, b""), hypothesis_trust())
