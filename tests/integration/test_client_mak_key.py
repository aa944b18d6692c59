"""``client ipk MAK``: one branch for both MAK paths (online and phone), one error text."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from openkms.client.api import Client
from openkms.client.info import gather_client_info
from openkms.client.mak import installed_mak
from openkms.client.state import load_state
from openkms.core.keys import ProductKey, mak_product_tag
from openkms.core.license import LicenseState
from openkms.errors import KeyFormatError
from openkms.publisher import Publisher
from openkms.publisher.phone import confirm_installation

NOW = time.time()


@pytest.fixture
def publisher(tmp_path: Path) -> Publisher:
    return Publisher.init(tmp_path / "pub", "MAK Key")


def test_a_mak_installs_the_product_its_tag_names(publisher: Publisher, tmp_path: Path) -> None:
    product = publisher.trust().catalog.products[-1]
    key, _ = publisher.issue_mak(product.activation_id, 2)
    client = Client.open(tmp_path / "pc", clock=lambda: NOW)
    assert client.install_key(str(key), publisher.trust()) == product
    state = load_state(tmp_path / "pc")
    assert state.activation_id == product.activation_id
    assert installed_mak(state.setup_key) == key
    assert gather_client_info(client).channel == "VOLUME_MAK"


def test_a_mak_for_no_product_of_the_catalog_is_refused_with_one_text(
    publisher: Publisher, tmp_path: Path
) -> None:
    tags = {mak_product_tag(p.activation_id) for p in publisher.trust().catalog.products}
    stranger = next(
        key
        for n in range(100)
        if (key := ProductKey.generate_mak(f"other-product-{n}")).product_tag not in tags
    )
    client = Client.open(tmp_path / "pc", clock=lambda: NOW)
    with pytest.raises(KeyFormatError, match="This MAK is not for a product of the publisher"):
        client.install_key(str(stranger), publisher.trust())


def test_a_setup_key_after_a_phone_activated_mak_drops_the_mak_license(
    publisher: Publisher, tmp_path: Path
) -> None:
    catalog = publisher.trust().catalog
    key, product = publisher.issue_mak(catalog.products[0].activation_id, 1)
    client = Client.open(tmp_path / "pc", clock=lambda: NOW)
    client.install_key(str(key), publisher.trust())
    cid = confirm_installation(publisher, str(client.installation_id())).confirmation_id
    assert client.install_confirmation(cid).licensed
    client.install_key(product.setup_key)
    assert client.license().state is LicenseState.INITIAL_GRACE
    assert gather_client_info(client).channel == "VOLUME_KMSCLIENT"
    assert installed_mak(load_state(tmp_path / "pc").setup_key) is None
