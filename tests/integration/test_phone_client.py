"""A MAK client activated by phone: licensed offline from its store, for this machine only."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import msgspec
import pytest

from openkms.client.api import Client
from openkms.client.phone import PhoneTicket
from openkms.client.state import load_state, save_state
from openkms.core.codes import ResultCode
from openkms.core.license import LicenseState
from openkms.core.phone import ConfirmationId
from openkms.errors import OpenKMSError, SignatureError
from openkms.publisher import Publisher
from openkms.publisher.phone import confirm_installation

NOW = time.time()


@pytest.fixture
def publisher(tmp_path: Path) -> Publisher:
    return Publisher.init(tmp_path / "pub", "Phone Client")


def mak_client(publisher: Publisher, directory: Path, activations: int = 5) -> Client:
    product = publisher.trust().catalog.products[0]
    client = Client.open(directory, clock=lambda: NOW)
    client.install_key(
        str(publisher.issue_mak(product.activation_id, activations)[0]), publisher.trust()
    )
    return client


def confirmation_for(publisher: Publisher, client: Client) -> str:
    return confirm_installation(publisher, str(client.installation_id())).confirmation_id


def test_atp_licenses_the_mak_offline_until_the_grant_ends(
    publisher: Publisher, tmp_path: Path
) -> None:
    client = mak_client(publisher, tmp_path / "pc")
    assert client.license().state is LicenseState.INITIAL_GRACE
    license = client.install_confirmation(confirmation_for(publisher, client))
    assert license.licensed and license.ends_at is not None
    assert license.ends_at - NOW > 3649 * 86400
    reopened = Client.open(tmp_path / "pc", clock=lambda: NOW + 3000 * 86400)
    assert reopened.license().licensed
    later = Client.open(tmp_path / "pc", clock=lambda: NOW + 3651 * 86400)
    assert not later.license().licensed


def test_the_phone_ticket_copied_to_another_machine_does_not_license(
    publisher: Publisher, tmp_path: Path
) -> None:
    client = mak_client(publisher, tmp_path / "pc")
    client.install_confirmation(confirmation_for(publisher, client))
    shutil.copytree(tmp_path / "pc", tmp_path / "clone")
    clone = load_state(tmp_path / "clone")
    clone.cmid = "00000000-0000-4000-8000-000000000000"  # the clone's own machine ID
    save_state(tmp_path / "clone", clone)
    assert not Client.open(tmp_path / "clone", clock=lambda: NOW).license().licensed


def test_a_confirmation_for_another_machine_or_grant_is_refused(
    publisher: Publisher, tmp_path: Path
) -> None:
    first = mak_client(publisher, tmp_path / "pc1")
    second = Client.open(tmp_path / "pc2", clock=lambda: NOW)
    second.install_key(first.state().setup_key or "", publisher.trust())
    cid = confirmation_for(publisher, first)
    parsed = ConfirmationId.parse(cid)
    for attempt, text in (
        (second, cid),
        (first, str(ConfirmationId(parsed.days + 1, 0, parsed.signature))),
        (first, str(ConfirmationId(parsed.days, 1, parsed.signature))),
    ):
        with pytest.raises(SignatureError) as info:
            attempt.install_confirmation(text)
        assert info.value.code is ResultCode.CONFIRMATION_INVALID
    assert not second.license().licensed and not first.license().licensed


def test_a_tampered_phone_ticket_does_not_license(publisher: Publisher, tmp_path: Path) -> None:
    client = mak_client(publisher, tmp_path / "pc")
    client.install_confirmation(confirmation_for(publisher, client))
    state = load_state(tmp_path / "pc")
    assert state.phone_ticket is not None
    ticket = msgspec.msgpack.decode(state.phone_ticket, type=PhoneTicket)
    digits = ticket.confirmation_id
    longer = ConfirmationId.from_data_digits(digits)
    forged = ConfirmationId(longer.days + 1, 0, longer.signature).data_digits
    for garbage in (
        b"\x00",
        msgspec.msgpack.encode(msgspec.structs.replace(ticket, confirmation_id=forged)),
    ):
        state.phone_ticket = garbage
        save_state(tmp_path / "pc", state)
        assert not Client.open(tmp_path / "pc", clock=lambda: NOW).license().licensed


def test_rearm_and_upk_end_the_phone_activation(publisher: Publisher, tmp_path: Path) -> None:
    client = mak_client(publisher, tmp_path / "pc")
    client.install_confirmation(confirmation_for(publisher, client))
    client.rearm()
    assert not client.license().licensed and load_state(tmp_path / "pc").phone_ticket is None


def test_dti_needs_a_mak(publisher: Publisher, tmp_path: Path) -> None:
    client = Client.open(tmp_path / "pc", clock=lambda: NOW)
    client.install_key(publisher.trust().catalog.products[0].setup_key, publisher.trust())
    with pytest.raises(OpenKMSError) as info:
        client.installation_id()
    assert info.value.code is ResultCode.NO_PRODUCT_KEY
