"""The catalog's optional fields ``phone_key`` and ``publisher_url``: old and new trust files.

A trust file signed before the fields existed still verifies and reads them as empty;
``sign-catalog`` sets both; a decoder of an older version, which forbids unknown fields,
reads a catalog without them and refuses one that carries either (docs/upgrading.md).
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from openkms.core import settings
from openkms.core.catalog import Catalog, Product
from openkms.core.shortsig import PhoneSigningKey
from openkms.core.signing import public_bytes, sign
from openkms.core.trust import CATALOG_DOMAIN, Trust
from openkms.publisher import Publisher


class OlderCatalog(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The catalog as a version before phone_key and publisher_url decodes it."""

    publisher: str
    application_id: str
    service: str
    groups: tuple[str, ...]
    products: tuple[Product, ...]
    host_key_max_hosts: int = settings.HOST_KEY_MAX_HOSTS
    host_key_max_activations: int = settings.HOST_KEY_MAX_ACTIVATIONS
    certificate_days: int = 730
    serial: int = 0


@pytest.fixture
def publisher(tmp_path: Path) -> Publisher:
    return Publisher.init(tmp_path / "pub", "Catalog Fields")


def older_body(catalog: Catalog) -> bytes:
    fields = msgspec.structs.asdict(catalog)
    del fields["phone_key"], fields["publisher_url"]
    return msgspec.msgpack.encode(OlderCatalog(**fields))


def test_a_trust_file_signed_before_the_fields_still_verifies(publisher: Publisher) -> None:
    body = older_body(publisher.trust().catalog)
    key = publisher.root_key()
    old = Trust.create(public_bytes(key), sign(key, CATALOG_DOMAIN, body))
    reread = Trust.from_json(old.to_json())
    assert reread.catalog_envelope.body == body  # the signed bytes are kept as they are
    assert (reread.catalog.phone_key, reread.catalog.publisher_url) == (b"", "")
    assert reread.catalog.products == publisher.trust().catalog.products


def test_sign_catalog_sets_the_phone_key_and_the_service_url(publisher: Publisher) -> None:
    toml = publisher.directory / "catalog.toml"
    url = "https://activate.example.com"
    toml.write_text(toml.read_text().replace("[publisher]\n", f'[publisher]\nurl = "{url}"\n'))
    catalog = publisher.sign_catalog().catalog
    phone = PhoneSigningKey.derive(publisher.root_key().private_bytes_raw())
    assert catalog.phone_key == phone.public_key and len(catalog.phone_key) == 32
    assert catalog.publisher_url == url
    assert Trust.from_json((publisher.directory / "trust.json").read_bytes()).catalog == catalog


def test_an_older_decoder_reads_a_catalog_without_them_and_refuses_either(
    publisher: Publisher,
) -> None:
    catalog = msgspec.structs.replace(publisher.catalog(), phone_key=b"", publisher_url="")
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(catalog), type=OlderCatalog)
    for field in ({"phone_key": bytes(32)}, {"publisher_url": "https://a.example"}):
        carrying = msgspec.structs.replace(catalog, **field)
        with pytest.raises(msgspec.ValidationError, match="unknown field"):
            msgspec.msgpack.decode(msgspec.msgpack.encode(carrying), type=OlderCatalog)
