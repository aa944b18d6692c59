"""The publisher confirms installation IDs: keys found by reference, limits, blocks, records."""

from __future__ import annotations

import time
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
from openkms.errors import OpenKMSError
from openkms.publisher import Publisher
from openkms.publisher.phone import _mak_ledger, _save_mak_ledger, confirm_installation, issue_mak

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
    entry = _mak_ledger(publisher).maks[mak.key_id]
    assert sorted(entry.activations.values()) == [1, 2]


def test_a_blocked_mak_is_refused_and_nothing_is_recorded(publisher: Publisher) -> None:
    mak = issue_mak(publisher, first_product(publisher), 2)
    ledger = _mak_ledger(publisher)
    ledger.maks[mak.key_id] = msgspec.structs.replace(ledger.maks[mak.key_id], blocked=True)
    _save_mak_ledger(publisher, ledger)
    with pytest.raises(OpenKMSError) as info:
        confirm_installation(publisher, str(mak_iid(mak, 1)))
    assert info.value.code is ResultCode.KEY_BLOCKED
    assert not _mak_ledger(publisher).maks[mak.key_id].activations


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
    groups[3] = groups[3][::-1] if groups[3] != groups[3][::-1] else "0000000"
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
    assert len(publisher.host_keys()[key.key_id].activations) == catalog.host_key_max_hosts


def test_a_mak_reference_in_a_host_installation_id_is_not_found(publisher: Publisher) -> None:
    mak = issue_mak(publisher, first_product(publisher), 2)
    iid = InstallationId(PhoneKind.HOST, 0, key_reference(mak), 1, TODAY)
    with pytest.raises(OpenKMSError) as info:
        confirm_installation(publisher, str(iid))
    assert info.value.code is ResultCode.INVALID_PRODUCT_KEY
