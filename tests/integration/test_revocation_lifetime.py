"""Revocation lists forget entries whose certificates are long dead; revoke-host by OKMS- ID.

The premise of forgetting: an expired certificate is refused, by the host (it stops signing)
and by the client (no ticket issued after the expiry, none lasting more than a ticket's life
past it). The lists stay monotonic: a host holding an older list takes the newer one.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import msgspec
import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from openkms.cli.main import cli
from openkms.core.codes import ResultCode
from openkms.core.keys import KeyKind
from openkms.core.publisher_api import HOST_ACTIVATIONS_PATH
from openkms.core.revocation import RevocationKind
from openkms.core.ticket import TicketBody, TicketSigner, verify_ticket
from openkms.errors import OpenKMSError, SignatureError
from openkms.host.phone import host_installation_id
from openkms.host.revocations import install_revocations
from openkms.host.state import HostState, host_id_of
from openkms.publisher import Publisher
from openkms.publisher._http import ServiceConfig, ServiceContext
from openkms.publisher._issued_certificates import ISSUE_CERTIFICATE
from openkms.publisher._revocation_pruning import PRUNE_MARGIN
from openkms.publisher.database import open_records
from openkms.publisher.phone import confirm_installation
from openkms.publisher.records import ClaimRequest
from openkms.publisher.revocations import REVOCATIONS_FILE, latest_revocations, revoke_host
from openkms.publisher.service import build_app

DAY = 86400
T0 = 1_800_000_000


class Clock:
    """The publisher's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return float(self.now)


def _publisher(root: Path, clock: Clock) -> Publisher:
    return Publisher.init(root / "pub", "Test", clock)


def _host(root: Path, publisher: Publisher, name: str, machine: str) -> HostState:
    state = HostState(root / name, machine=machine)
    state.install_key(str(publisher.issue_host_key("C")), publisher.trust())
    return state


def _activate(state: HostState, publisher: Publisher, days: int) -> None:
    request = state.activation_request("kms-" + state.directory.name, publisher.now())
    state.install_certificate(publisher.activate_host(request, days), publisher.now())


def _run(*args: str, ok: bool = True) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    assert (result.exit_code == 0) is ok, result.output
    return result.output


# -- an expired certificate is refused -----------------------------------------------------------


def _ticket(state: HostState, publisher: Publisher, issued_at: int, valid_until: int) -> bytes:
    activation = state.activation(issued_at)
    assert activation.envelope is not None
    product = publisher.trust().catalog.products[0]
    body = TicketBody(uuid.UUID(int=1).bytes, product.activation_id, 50, 1, issued_at, valid_until)
    return TicketSigner(state.private_key(), activation.envelope).issue(body)


def _verify(publisher: Publisher, ticket: bytes, now: int) -> None:
    product = publisher.trust().catalog.products[0]
    verify_ticket(
        ticket,
        publisher.trust(),
        cmid=uuid.UUID(int=1).bytes,
        activation_id=product.activation_id,
        now=now,
    )


def test_the_host_stops_signing_when_its_certificate_expires(tmp_path: Path) -> None:
    clock = Clock()
    publisher = _publisher(tmp_path, clock)
    state = _host(tmp_path, publisher, "host", "m1")
    _activate(state, publisher, days=1)
    assert state.activation(T0 + DAY - 1).problem is None
    assert state.activation(T0 + DAY).problem == "the certificate has expired"


def test_the_client_refuses_a_ticket_issued_after_the_certificate_expired(tmp_path: Path) -> None:
    clock = Clock()
    publisher = _publisher(tmp_path, clock)
    state = _host(tmp_path, publisher, "host", "m1")
    _activate(state, publisher, days=1)
    expires = T0 + DAY
    late = _ticket(state, publisher, expires, expires + 180 * DAY)  # a clock set back would
    with pytest.raises(SignatureError, match="outside the host certificate"):
        _verify(publisher, late, expires + 10)


def test_the_client_refuses_a_ticket_lasting_past_the_certificate_longer_than_a_ticket_may(
    tmp_path: Path,
) -> None:
    """A revoked host's stolen key cannot back-date a ticket that lasts for ever."""
    clock = Clock()
    publisher = _publisher(tmp_path, clock)
    state = _host(tmp_path, publisher, "host", "m1")
    _activate(state, publisher, days=1)
    expires = T0 + DAY
    genuine = _ticket(state, publisher, expires - 1, expires - 1 + 180 * DAY)
    _verify(publisher, genuine, expires + 100 * DAY)  # a ticket outlives its certificate
    forever = _ticket(state, publisher, expires - 1, expires + 180 * DAY + 1)
    with pytest.raises(SignatureError, match="longer past its host certificate"):
        _verify(publisher, forever, expires + 10)


# -- revoke-host by OKMS- ID ----------------------------------------------------------------------


def test_revoke_host_takes_the_host_id_the_host_shows(tmp_path: Path) -> None:
    clock = Clock()
    publisher = _publisher(tmp_path, clock)
    state = _host(tmp_path, publisher, "host", "m1")
    other = _host(tmp_path, publisher, "other", "m2")
    _activate(state, publisher, days=30)
    _activate(other, publisher, days=30)
    host_id = host_id_of(state.fingerprint)
    out = _run("publisher", "revoke-host", str(tmp_path / "pub"), host_id.lower())
    fingerprint = state.fingerprint.partition(":")[0]
    assert f"Host {host_id} (fingerprint {fingerprint}) revoked" in out
    revocations = latest_revocations(publisher)
    assert revocations is not None
    assert [(e.kind, e.subject) for e in revocations.body.entries] == [
        (RevocationKind.HOST, fingerprint)
    ]
    assert state.activation(publisher.now()).problem is None  # until the host takes the list
    install_revocations(state, (tmp_path / "pub" / REVOCATIONS_FILE).read_bytes(), "test")
    assert state.activation(publisher.now()).revoked is not None
    assert other.activation(publisher.now()).problem is None


def test_an_okms_id_no_host_has_revokes_nothing(tmp_path: Path) -> None:
    clock = Clock()
    publisher = _publisher(tmp_path, clock)
    out = _run("publisher", "revoke-host", str(tmp_path / "pub"), "OKMS-0123456789AB", ok=False)
    assert "0x80070057" in out and "No host with ID OKMS-0123456789AB" in out
    assert latest_revocations(publisher) is None


def test_an_okms_id_two_hosts_share_lists_them_and_revokes_nothing(tmp_path: Path) -> None:
    """48 bits can collide: two recorded fingerprints with the same first 12 hex digits."""
    clock = Clock()
    publisher = _publisher(tmp_path, clock)
    key = publisher.issue_host_key("C")
    twins = ["0123456789ab" + "0" * 20 + ":" + "1" * 16, "0123456789ab" + "f" * 20 + ":" + "2" * 16]
    with publisher.records() as db:
        for twin in twins:
            db.run(db.records.claim(_claim(key.key_id, twin)))
    code = CliRunner().invoke(
        cli, ["publisher", "revoke-host", str(tmp_path / "pub"), "OKMS-0123456789ab"]
    )
    assert code.exit_code != 0 and "names 2 hosts" in code.output
    assert all(t.partition(":")[0] in code.output for t in twins)
    assert latest_revocations(publisher) is None


def _claim(key_id: str, machine: str) -> ClaimRequest:
    return ClaimRequest(key_id, KeyKind.HOST, machine, "twin", T0, "test")


# -- the list forgets -----------------------------------------------------------------------------


def test_an_entry_leaves_the_list_after_its_certificate_and_the_margin(tmp_path: Path) -> None:
    clock = Clock()
    publisher = _publisher(tmp_path, clock)
    state = _host(tmp_path, publisher, "host", "m1")
    _activate(state, publisher, days=1)
    fingerprint = state.fingerprint.partition(":")[0]
    assert len(_certificate_lines(publisher)) == 1
    first = revoke_host(publisher, host_id_of(state.fingerprint))
    install_revocations(state, first.revocations.to_json(), "test")

    clock.now = T0 + DAY + PRUNE_MARGIN - 1  # not yet: a ticket could still serve
    kept = revoke_host(publisher, "aa" * 16)
    assert kept.dropped == () and len(kept.revocations.body.entries) == 2

    clock.now = T0 + DAY + PRUNE_MARGIN
    later = revoke_host(publisher, "bb" * 16)
    assert [(e.kind, e.subject) for e in later.dropped] == [(RevocationKind.HOST, fingerprint)]
    assert [e.subject for e in later.revocations.body.entries] == ["aa" * 16, "bb" * 16]
    assert later.revocations.serial == first.revocations.serial + 2
    # A host holding an older list takes the newer, shorter one; never the other way round.
    assert install_revocations(state, later.revocations.to_json(), "test").replaced
    with pytest.raises(OpenKMSError) as caught:
        install_revocations(state, kept.revocations.to_json(), "test")
    assert caught.value.code is ResultCode.REVOCATIONS_NOT_NEWER
    assert ("drop-revocations", f"list={later.revocations.serial}") in [
        (e.action, e.subject) for e in publisher.audit_log()
    ]


def test_a_revoked_host_is_not_certified_again(tmp_path: Path) -> None:
    """Revoked by fingerprint: its next activation, by request file or by phone, is refused
    with 0xC004C003 and recorded nowhere; another host of the same key still is certified;
    the entry leaves the list after the host's only certificate and the margin."""
    clock = Clock()
    publisher = _publisher(tmp_path, clock)
    state = _host(tmp_path, publisher, "host", "m1")
    _activate(state, publisher, days=1)
    revoke_host(publisher, host_id_of(state.fingerprint), "stolen")
    clock.now = T0 + 10 * DAY
    used = [u.used for u in publisher.usage()]
    with pytest.raises(OpenKMSError) as caught:
        _activate(state, publisher, days=30)
    assert caught.value.code is ResultCode.KEY_BLOCKED
    assert "revoked this host: stolen" in caught.value.message
    iid = host_installation_id(state, publisher.now())
    with pytest.raises(OpenKMSError) as by_phone:
        confirm_installation(publisher, str(iid))
    assert by_phone.value.code is ResultCode.KEY_BLOCKED
    assert [u.used for u in publisher.usage()] == used  # nothing recorded
    _activate(_host(tmp_path, publisher, "other", "m2"), publisher, days=30)
    clock.now = T0 + DAY + PRUNE_MARGIN + 1
    dropped = revoke_host(publisher, "aa" * 16).dropped
    assert [entry.kind for entry in dropped] == [RevocationKind.HOST]


def test_a_host_activation_without_a_certificate_line_is_never_forgotten(tmp_path: Path) -> None:
    """A certificate signed before they were recorded: its life is unknown, the entry stays."""
    clock = Clock()
    publisher = _publisher(tmp_path, clock)
    state = _host(tmp_path, publisher, "host", "m1")
    _activate(state, publisher, days=1)
    with publisher.records() as db:  # a second activation, as an older version recorded it
        (usage,) = [u for u in db.run(db.records.usage()) if u.machines]
        db.run(db.records.claim(_claim(usage.key.key_id, state.fingerprint)))
    revoke_host(publisher, host_id_of(state.fingerprint))
    clock.now = T0 + 10_000 * DAY
    assert revoke_host(publisher, "aa" * 16).dropped == ()


def test_a_certificate_serial_entry_leaves_after_that_certificate(tmp_path: Path) -> None:
    clock = Clock()
    publisher = _publisher(tmp_path, clock)
    state = _host(tmp_path, publisher, "host", "m1")
    _activate(state, publisher, days=2)
    serial = state.activation(publisher.now()).certificate.serial  # type: ignore[union-attr]
    revoke_host(publisher, serial)
    revoke_host(publisher, "cd" * 8)  # a serial the publisher never recorded: kept
    clock.now = T0 + 2 * DAY + PRUNE_MARGIN
    update = revoke_host(publisher, "bb" * 16)
    assert [e.subject for e in update.dropped] == [serial]
    assert [e.subject for e in update.revocations.body.entries] == ["cd" * 8, "bb" * 16]


def _certificate_lines(publisher: Publisher) -> list[str]:
    with publisher.records(readonly=True) as db:
        return [e.detail for e in db.run(db.records.audit_entries(ISSUE_CERTIFICATE))]


def test_every_certificate_signed_is_recorded_with_its_expiry(tmp_path: Path) -> None:
    clock = Clock()
    publisher = _publisher(tmp_path, clock)
    state = _host(tmp_path, publisher, "host", "m1")
    _activate(state, publisher, days=3)
    cert = state.activation(publisher.now()).certificate
    assert cert is not None
    fingerprint = cert.host_fingerprint.partition(":")[0]
    assert _certificate_lines(publisher) == [
        f"host={fingerprint} key={cert.host_key_id} issued={cert.issued_at} "
        f"expires={cert.expires_at}"
    ]
    assert msgspec.json.encode(cert)  # the certificate itself is untouched


def test_the_service_records_the_certificates_it_signs_online(tmp_path: Path) -> None:
    clock = Clock()
    publisher = _publisher(tmp_path, clock)
    state = _host(tmp_path, publisher, "host", "m1")
    request = state.activation_request("kms-online", publisher.now())

    async def activate() -> bytes:
        records = await open_records(publisher.directory, None, publisher.trust().catalog)
        context = ServiceContext(publisher, records, ServiceConfig(publisher.directory))
        try:
            async with TestClient(TestServer(build_app(context))) as client:
                response = await client.post(HOST_ACTIVATIONS_PATH, data=request)
                assert response.status == 200
                return await response.read()
        finally:
            await records.close()

    cert = state.install_certificate(asyncio.run(activate()), publisher.now())
    assert _certificate_lines(publisher) == [
        f"host={cert.host_fingerprint.partition(':')[0]} key={cert.host_key_id} "
        f"issued={cert.issued_at} expires={cert.expires_at}"
    ]
