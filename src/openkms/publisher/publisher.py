"""A publisher directory: root key, catalog, trust file, the records and the MAK service key.

Layout of ``DIR``::

    root.key                  Ed25519 private key, PEM, mode 0600 (keep it safe: see
                              docs/publisher.md)
    catalog.toml              the editable catalog
    trust.json                publisher public key + signed catalog (ship to hosts and clients)
    publisher.db              the records: keys issued, activations, audit log (SQLite, 0600;
                              or PostgreSQL with a DSN)
    service.key               the MAK service's signing key (0600), and
    service-certificate.json  its certificate, issued by the root key (role "mak")
    host-keys.json.imported   the ledger of an older version, imported into the records once
"""

from __future__ import annotations

import getpass
import logging
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from openkms._files import atomic_write, private_directory, read_bytes
from openkms.core.catalog import Catalog, Product, parse_catalog_toml
from openkms.core.codes import ResultCode
from openkms.core.keys import KeyKind, ProductKey, mak_product_tag
from openkms.core.shortsig import PhoneSigningKey
from openkms.core.signing import public_bytes, sign
from openkms.core.trust import CATALOG_DOMAIN, Trust, format_publisher_key
from openkms.errors import OpenKMSError, StateError
from openkms.i18n import _
from openkms.publisher._issued_certificates import certificate_audit_entry
from openkms.publisher._products import add_product_toml, find_product
from openkms.publisher._service_key import MakSigner, load_mak_signer
from openkms.publisher.authority import Authority
from openkms.publisher.database import BlockingRecords
from openkms.publisher.default_catalog import default_catalog_toml
from openkms.publisher.records import (
    AuditEntry,
    IssuedKey,
    KeyUsage,
    database_from_env,
)

__all__ = ["Publisher", "cli_actor"]

log = logging.getLogger("openkms.publisher")

MAX_MAK_ACTIVATIONS = 1_000_000


def cli_actor() -> str:
    """Who runs a CLI command, for the audit log (``cli:USER``)."""
    try:
        return "cli:" + getpass.getuser()
    except (OSError, KeyError):
        return "cli:unknown"


class Publisher:
    """The publisher's tools, over one publisher directory."""

    def __init__(
        self,
        directory: Path,
        clock: Callable[[], float] = time.time,
        *,
        database: str | None = None,
        actor: str | None = None,
    ) -> None:
        self.directory = directory
        self.database = database_from_env(database)
        self.actor = actor or cli_actor()
        self._clock = clock

    @classmethod
    def init(
        cls,
        directory: Path,
        name: str,
        clock: Callable[[], float] = time.time,
        *,
        database: str | None = None,
    ) -> Publisher:
        """Create a new publisher: root key, default catalog, trust file, empty records."""
        if (directory / "root.key").exists():
            raise StateError(
                _("{directory} already holds a publisher (root.key exists)").format(
                    directory=directory
                ),
                fix=_("Choose another directory; never overwrite a root key."),
            )
        private_directory(directory)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        atomic_write(directory / "root.key", pem, mode=0o600)
        atomic_write(directory / "catalog.toml", default_catalog_toml(name).encode())
        publisher = cls(directory, clock, database=database)
        publisher.sign_catalog()
        return publisher

    # -- catalog -------------------------------------------------------------------------

    def catalog(self) -> Catalog:
        """The catalog as edited (validated, not necessarily signed yet)."""
        path = self.directory / "catalog.toml"
        return parse_catalog_toml(
            read_bytes(path, _("catalog")).decode("utf-8", "replace"), str(path)
        )

    def sign_catalog(self) -> Trust:
        """Validate and sign catalog.toml under the next serial; write trust.json.

        Clients replace a pinned catalog only with a higher serial, so every signature
        raises it (the first is 1; a trust.json signed before serials existed counts as 0).
        """
        path = self.directory / "trust.json"
        installed = self.trust() if path.exists() else None
        previous = installed.catalog.serial if installed else 0
        phone_key = PhoneSigningKey.derive(self.root_key().private_bytes_raw()).public_key
        catalog = msgspec.structs.replace(self.catalog(), serial=previous + 1, phone_key=phone_key)
        body = msgspec.msgpack.encode(catalog)
        trust = Trust.create(  # the root key rotations (rotate-root) travel on
            public_bytes(self.root_key()),
            sign(self.root_key(), CATALOG_DOMAIN, body),
            installed.rotations if installed else (),
        )
        atomic_write(self.directory / "trust.json", trust.to_json())
        self.audit("sign-catalog", catalog.application_id, f"serial={catalog.serial}")
        return trust

    def trust(self) -> Trust:
        """The signed trust document (trust.json)."""
        path = self.directory / "trust.json"
        return Trust.from_json(read_bytes(path, _("trust file")), str(path))

    def public_key_text(self) -> str:
        """The publisher key as applications pin it (``okpk1:...``), from the root key."""
        return format_publisher_key(public_bytes(self.root_key()))

    def setup_keys(self) -> tuple[Product, ...]:
        """The setup-key table of the signed catalog."""
        return self.trust().catalog.products

    def add_product(self, product: str, edition: str, group: str, n_policy: int) -> Product:
        """Add an edition to catalog.toml (new activation ID and setup key), then re-sign."""
        path = self.directory / "catalog.toml"
        text = read_bytes(path, _("catalog")).decode("utf-8", "replace")
        updated, added = add_product_toml(
            text, self.catalog(), product=product, edition=edition, group=group, n_policy=n_policy
        )
        parse_catalog_toml(updated, str(path))  # the edit must leave a valid catalog
        atomic_write(path, updated.encode())
        self.audit("add-product", added.activation_id, f"{added.name} group={group}")
        self.sign_catalog()
        return added

    # -- records -------------------------------------------------------------------------

    def now(self) -> int:
        """The publisher's clock (injected for tests), in whole seconds."""
        return int(self._clock())

    def records(self, *, readonly: bool = False) -> BlockingRecords:
        """The records (``with publisher.records() as db: db.run(db.records.keys())``)."""
        return BlockingRecords(
            self.directory, self.database, self.trust().catalog, readonly=readonly
        )

    def audit(self, action: str, subject: str, detail: str = "") -> None:
        """Append one line to the audit log (as this publisher's actor)."""
        entry = AuditEntry(int(self._clock()), self.actor, action, subject, detail)
        with self.records() as db:
            db.run(db.records.audit(entry))

    def issue_host_key(self, group: str) -> ProductKey:
        """A new host key for license group ``group``, recorded."""
        catalog = self.trust().catalog
        if group not in catalog.groups:
            raise OpenKMSError(
                _("license group {group!r} is not in the catalog ({groups})").format(
                    group=group, groups=", ".join(catalog.groups)
                ),
                code=ResultCode.INVALID_ARGUMENT,
                fix=_(
                    "Give one of the catalog's license groups with --group (names are "
                    "case-sensitive), or add the group to catalog.toml and run sign-catalog."
                ),
            )
        key = ProductKey.generate(KeyKind.HOST, secrets.token_bytes)
        issued = IssuedKey(
            key.key_id,
            str(key),
            KeyKind.HOST,
            group,
            None,
            catalog.host_key_max_hosts,
            catalog.host_key_max_activations,
            int(self._clock()),
        )
        self._record_key(issued)
        return key

    def issue_mak(self, product: str, activations: int) -> tuple[ProductKey, Product]:
        """A new MAK for ``product`` (activation ID or edition) good for ``activations``."""
        if not 0 < activations <= MAX_MAK_ACTIVATIONS:
            raise OpenKMSError(
                _("a MAK allows 1 to {max_mak_activations} activations").format(
                    max_mak_activations=MAX_MAK_ACTIVATIONS
                ),
                code=ResultCode.INVALID_ARGUMENT,
            )
        catalog = self.trust().catalog
        found = find_product(catalog, product)
        _refuse_shared_tag(catalog, found)
        key = ProductKey.generate_mak(found.activation_id, secrets.token_bytes)
        issued = IssuedKey(
            key.key_id,
            str(key),
            KeyKind.MAK,
            None,
            found.activation_id,
            activations,
            None,
            int(self._clock()),
        )
        self._record_key(issued)
        return key, found

    def _record_key(self, issued: IssuedKey) -> None:
        with self.records() as db:
            db.run(db.records.add_key(issued, self.actor))

    def activate_host(self, request_data: bytes, days: int | None = None) -> bytes:
        """Offline host activation: verify the request, claim the key, return a certificate."""
        from_file = self.actor + " (request file)"
        with self.records() as db:
            authority = Authority(self, db.records, self._clock)
            data = db.run(authority.activate_host(request_data, from_file, days))
            db.run(db.records.audit(certificate_audit_entry(data, from_file, self.now())))
            return data

    def block_key(self, text: str) -> IssuedKey:
        """Block a host key or MAK: the service refuses it from now on (0xC004C003)."""
        key = ProductKey.parse(text)
        with self.records() as db:
            blocked = db.run(db.records.block_key(key.key_id, int(self._clock()), self.actor))
        if blocked is None:
            raise OpenKMSError(
                _("This key was not issued by this publisher."),
                code=ResultCode.INVALID_PRODUCT_KEY,
                fix=_("Check the key against 'openkms publisher list-keys DIR'."),
            )
        return blocked

    def usage(self) -> list[KeyUsage]:
        """Every key with the machines that activated with it (reads only)."""
        with self.records(readonly=True) as db:
            return db.run(db.records.usage())

    def audit_log(self, limit: int = 1000) -> list[AuditEntry]:
        """The last ``limit`` lines of the audit log (reads only)."""
        with self.records(readonly=True) as db:
            return db.run(db.records.audit_log(limit))

    def mak_signer(self, now: int) -> MakSigner:
        """The MAK service's key and certificate (renewed by the root key when due)."""
        signer, renewed = load_mak_signer(self.directory, self.root_key(), self.trust(), now)
        if renewed:
            log.info(
                "MAK service certificate issued, valid until %d", signer.certificate.expires_at
            )
        return signer

    # -- files ---------------------------------------------------------------------------

    def root_key(self) -> Ed25519PrivateKey:
        """The root private key (root.key)."""
        data = read_bytes(self.directory / "root.key", _("publisher root key"))
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise StateError(
                _("{directory} is not a PEM private key").format(
                    directory=self.directory / "root.key"
                )
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise StateError(
                _("{directory} is not an Ed25519 key").format(directory=self.directory / "root.key")
            )
        return key


def _refuse_shared_tag(catalog: Catalog, product: Product) -> None:
    """A MAK names its product by a tag of its activation ID: when another product of the
    catalog has the same tag, no client could tell which product the MAK is for."""
    tag = mak_product_tag(product.activation_id)
    others = [
        p.name
        for p in catalog.products
        if p is not product and mak_product_tag(p.activation_id) == tag
    ]
    if others:
        raise OpenKMSError(
            _(
                "the MAK product tag of {product} ({tag}) is also that of {others}: "
                "no client could tell which product a MAK for it is for"
            ).format(product=product.name, tag=tag, others="; ".join(others)),
            code=ResultCode.INVALID_ARGUMENT,
            fix=_(
                "Give one of these products a new activation_id in catalog.toml (a new UUID) "
                "before any key for it is issued, or add the edition again with "
                "'publisher add-product', which draws an ID whose tag is unique; then sign "
                "the catalog."
            ),
        )
