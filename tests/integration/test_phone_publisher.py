"""The publisher confirms installation IDs: keys found in the records, limits, blocks, audit."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import msgspec
import pytest

from openkms.core.codes import ResultCode
from openkms.core.keys import ProductKey
from openkms.core.phone import (
    ConfirmationId,
    InstallationId,
    PhoneFacts,
    PhoneKind,
    host_reference,
    key_reference,
    machine_reference,
    product_tag_number,
    verify_confirmation,
)
from openkms.core.publisher_api import MAK_REQUEST_FORMAT, MakActivationRequest
from openkms.errors import OpenKMSError
from openkms.host.phone import host_installation_id
from openkms.host.state import HostState
from openkms.publisher import Publisher
from openkms.publisher.authority import Authority
from openkms.publisher.database import open_records
from openkms.publisher.phone import PHONE_MACHINE_NAME, confirm_installation
from openkms.publisher.records import KeyUsage

TODAY = int(time.time()) // 86400


@pytest.fixture
def publisher(tmp_path: Path) -> Publisher:
    return Publisher.init(tmp_path / "publisher", "Phone Publisher")


def mak_iid(key: ProductKey, machine: int, day: int = TODAY) -> InstallationId:
    return InstallationId(
        PhoneKind.MAK, product_tag_number(key.product_tag), key_reference(key), machine, day
    )


def first_product(publisher: Publisher) -> str:
    return publisher.trust().catalog.products[0].activation_id


def issue_mak(publisher: Publisher, activation_id: str, activations: int) -> ProductKey:
    return publisher.issue_mak(activation_id, activations)[0]


def usage_of(publisher: Publisher, key: ProductKey) -> KeyUsage:
    return next(u for u in publisher.usage() if u.key.key_id == key.key_id)


def activate_online(publisher: Publisher, key: ProductKey, cmid: uuid.UUID) -> None:
    """One online MAK activation, as the service makes it."""
    request = MakActivationRequest(
        MAK_REQUEST_FORMAT, str(key), str(cmid), "pc-online", first_product(publisher)
    )

    async def main() -> None:
        records = await open_records(publisher.directory, None, publisher.trust().catalog)
        try:
            await Authority(publisher, records).activate_mak(msgspec.json.encode(request), "test")
        finally:
            await records.close()

    asyncio.run(main())


def test_a_mak_confirmation_verifies_for_its_machine_and_product(publisher: Publisher) -> None:
    product = first_product(publisher)
    mak = issue_mak(publisher, product, 5)
    iid = mak_iid(mak, machine_reference(bytes(16)))
    confirmation = confirm_installation(publisher, str(iid))
    cid = ConfirmationId.parse(confirmation.confirmation_id)
    catalog = publisher.trust().catalog
    facts = PhoneFacts(catalog.application_id, mak.key_id, activation_id=product)
    assert verify_confirmation(catalog.phone_key, iid, cid, facts)
    assert (cid.days, confirmation.kind, confirmation.product) == (3650, "mak", product)


def test_a_mak_counts_each_machine_once_and_stops_at_its_limit(publisher: Publisher) -> None:
    mak = issue_mak(publisher, first_product(publisher), 2)
    confirm_installation(publisher, str(mak_iid(mak, 1)))
    confirm_installation(publisher, str(mak_iid(mak, 1)))  # the same machine again
    confirm_installation(publisher, str(mak_iid(mak, 2)))
    with pytest.raises(OpenKMSError) as info:
        confirm_installation(publisher, str(mak_iid(mak, 3)))
    assert info.value.code is ResultCode.HOST_KEY_LIMIT_EXCEEDED
    machines = usage_of(publisher, mak).machines
    assert sorted(m.count for m in machines) == [1, 2]
    assert {m.machine for m in machines} == {"phone:1", "phone:2"}
    assert {m.machine_name for m in machines} == {PHONE_MACHINE_NAME}


def test_online_and_phone_activations_share_the_mak_limit(publisher: Publisher) -> None:
    mak = issue_mak(publisher, first_product(publisher), 2)
    activate_online(publisher, mak, uuid.uuid4())
    confirm_installation(publisher, str(mak_iid(mak, 7)))
    with pytest.raises(OpenKMSError) as by_phone:
        confirm_installation(publisher, str(mak_iid(mak, 8)))
    assert by_phone.value.code is ResultCode.HOST_KEY_LIMIT_EXCEEDED
    with pytest.raises(OpenKMSError) as online:
        activate_online(publisher, mak, uuid.uuid4())
    assert online.value.code is ResultCode.HOST_KEY_LIMIT_EXCEEDED
    assert usage_of(publisher, mak).used == 2


def test_a_blocked_mak_is_refused_and_nothing_is_recorded(publisher: Publisher) -> None:
    mak = issue_mak(publisher, first_product(publisher), 2)
    publisher.block_key(str(mak))
    with pytest.raises(OpenKMSError) as info:
        confirm_installation(publisher, str(mak_iid(mak, 1)))
    assert info.value.code is ResultCode.KEY_BLOCKED
    assert not usage_of(publisher, mak).machines


def test_a_blocked_host_key_is_refused_by_phone(publisher: Publisher) -> None:
    key = publisher.issue_host_key("B")
    publisher.block_key(str(key))
    iid = InstallationId(PhoneKind.HOST, 0, key_reference(key), 99, TODAY)
    with pytest.raises(OpenKMSError) as info:
        confirm_installation(publisher, str(iid))
    assert info.value.code is ResultCode.KEY_BLOCKED
    assert not usage_of(publisher, key).machines


def test_phone_activations_are_in_the_audit_log(publisher: Publisher) -> None:
    mak = issue_mak(publisher, first_product(publisher), 1)
    confirm_installation(publisher, str(mak_iid(mak, 1)))
    with pytest.raises(OpenKMSError):
        confirm_installation(publisher, str(mak_iid(mak, 2)))
    lines = [e for e in publisher.audit_log() if e.action == "activate-mak"]
    assert [e.detail.split()[0] for e in lines] == ["new-machine", "key-used-up"]
    assert all(e.subject == mak.key_id and e.actor.endswith("(phone)") for e in lines)


def test_a_key_the_publisher_never_issued_is_refused(publisher: Publisher) -> None:
    stranger = ProductKey.generate_mak(first_product(publisher))
    with pytest.raises(OpenKMSError) as info:
        confirm_installation(publisher, str(mak_iid(stranger, 1)))
    assert info.value.code is ResultCode.INVALID_PRODUCT_KEY


def test_an_old_or_future_installation_id_is_refused(publisher: Publisher) -> None:
    mak = issue_mak(publisher, first_product(publisher), 2)
    for day in (TODAY - 31, TODAY + 2):
        with pytest.raises(OpenKMSError, match="more than 30 days ago"):
            confirm_installation(publisher, str(mak_iid(mak, 1, day)))


def test_a_mistyped_installation_id_names_its_group(publisher: Publisher) -> None:
    mak = issue_mak(publisher, first_product(publisher), 2)
    groups = str(mak_iid(mak, 1)).split()
    chunk = groups[3]  # one wrong digit: the group's check digit always catches it
    groups[3] = chunk[:2] + str((int(chunk[2]) + 5) % 10) + chunk[3:]
    with pytest.raises(OpenKMSError, match="group 4 is mistyped"):
        confirm_installation(publisher, " ".join(groups))


def test_a_host_key_is_confirmed_in_its_group_within_its_limits(publisher: Publisher) -> None:
    key = publisher.issue_host_key("B")
    catalog = publisher.trust().catalog
    hosts = [host_reference(bytes([n]) * 32, f"fp{n}") for n in range(catalog.host_key_max_hosts)]
    for reference in hosts:
        iid = InstallationId(PhoneKind.HOST, 0, key_reference(key), reference, TODAY)
        confirmation = confirm_installation(publisher, str(iid), days=90)
        cid = ConfirmationId.parse(confirmation.confirmation_id)
        assert (cid.days, cid.group_rank) == (90, catalog.groups.index("B"))
        facts = PhoneFacts(catalog.application_id, key.key_id, group="B")
        assert verify_confirmation(catalog.phone_key, iid, cid, facts)
    one_more = InstallationId(PhoneKind.HOST, 0, key_reference(key), 12345, TODAY)
    with pytest.raises(OpenKMSError) as info:
        confirm_installation(publisher, str(one_more))
    assert info.value.code is ResultCode.HOST_KEY_LIMIT_EXCEEDED
    usage = {u.key.key_id: u for u in publisher.usage()}
    assert usage[key.key_id].used == catalog.host_key_max_hosts


def test_a_mak_reference_in_a_host_installation_id_is_not_found(publisher: Publisher) -> None:
    mak = issue_mak(publisher, first_product(publisher), 2)
    iid = InstallationId(PhoneKind.HOST, 0, key_reference(mak), 1, TODAY)
    with pytest.raises(OpenKMSError) as info:
        confirm_installation(publisher, str(iid))
    assert info.value.code is ResultCode.INVALID_PRODUCT_KEY


def test_a_mak_client_online_then_by_phone_uses_one_activation(publisher: Publisher) -> None:
    """The site lost its internet: the machine activated online re-activates by phone."""
    mak = issue_mak(publisher, first_product(publisher), 1)
    cmid = uuid.uuid4()
    activate_online(publisher, mak, cmid)
    confirm_installation(publisher, str(mak_iid(mak, machine_reference(cmid.bytes))))
    activate_online(publisher, mak, cmid)  # and online again, the same machine
    (machine,) = usage_of(publisher, mak).machines
    assert (machine.machine, machine.machine_name, machine.count) == (str(cmid), "pc-online", 3)
    with pytest.raises(OpenKMSError) as info:  # another machine: the MAK is for one
        confirm_installation(publisher, str(mak_iid(mak, machine_reference(bytes(16)))))
    assert info.value.code is ResultCode.HOST_KEY_LIMIT_EXCEEDED


def test_a_host_online_then_by_phone_uses_one_activation(
    publisher: Publisher, tmp_path: Path
) -> None:
    key = publisher.issue_host_key("B")
    state = HostState(tmp_path / "host")
    state.install_key(str(key), publisher.trust())
    now = int(time.time())
    publisher.activate_host(state.activation_request("host-1", now))
    confirm_installation(publisher, str(host_installation_id(state, now)))
    publisher.activate_host(state.activation_request("host-1", now))
    usage = usage_of(publisher, key)
    (machine,) = usage.machines
    assert (usage.used, machine.machine_name, machine.count) == (1, "host-1", 3)
    assert machine.machine == state.fingerprint
