"""A MAK names its product by a 3-symbol tag of the product's activation ID: no two products
of a catalog may share one, or no client could tell which product such a MAK is for."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from openkms.core.catalog import parse_catalog_toml
from openkms.core.codes import ResultCode
from openkms.core.keys import mak_product_tag
from openkms.errors import OpenKMSError
from openkms.publisher import Publisher
from openkms.publisher.default_catalog import default_catalog_toml


def _colliding_pair() -> tuple[uuid.UUID, uuid.UUID]:
    """Two activation IDs with the same MAK tag (13,824 tags: found in a few hundred)."""
    seen: dict[str, uuid.UUID] = {}
    for number in range(1, 100_000):
        candidate = uuid.UUID(int=number * 0x9E3779B97F4A7C15)
        tag = mak_product_tag(str(candidate))
        if tag in seen:
            return seen[tag], candidate
        seen[tag] = candidate
    raise AssertionError("no two IDs share a tag")


def test_a_new_publishers_catalog_never_gives_two_editions_one_tag() -> None:
    first, second = _colliding_pair()
    drawn: Iterator[uuid.UUID] = iter(
        [uuid.uuid4(), first, second, *(uuid.uuid4() for _ in range(20))]
    )
    catalog = parse_catalog_toml(default_catalog_toml("Test", new_uuid=lambda: next(drawn)))
    ids = [p.activation_id for p in catalog.products]
    assert str(first) in ids and str(second) not in ids  # the second was drawn again
    tags = [mak_product_tag(i) for i in ids]
    assert len(set(tags)) == len(tags) == 6


def test_no_mak_is_issued_for_a_product_whose_tag_another_shares(tmp_path: Path) -> None:
    """A catalog edited by hand can give two products one tag: the publisher refuses their
    MAKs (which no client could install) and says how to mend the catalog."""
    pub = tmp_path / "pub"
    publisher = Publisher.init(pub, "Test")
    products = publisher.trust().catalog.products
    first, second = _colliding_pair()
    path = pub / "catalog.toml"
    text = path.read_text()
    text = text.replace(products[0].activation_id, str(first))
    text = text.replace(products[1].activation_id, str(second))
    path.write_text(text)
    publisher.sign_catalog()
    with pytest.raises(OpenKMSError) as info:
        publisher.issue_mak(str(first), 5)
    assert info.value.code is ResultCode.INVALID_ARGUMENT
    assert products[1].name in info.value.message and "new activation_id" in (info.value.fix or "")
    with pytest.raises(OpenKMSError):
        publisher.issue_mak(str(second), 5)
    key, product = publisher.issue_mak(products[2].activation_id, 5)  # the others still can
    assert key.product_tag == mak_product_tag(product.activation_id)
