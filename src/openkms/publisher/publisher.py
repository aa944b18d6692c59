"""A publisher directory: root key, catalog, trust file and the host-key ledger.

Layout of ``DIR``::

    root.key        Ed25519 private key, PEM, mode 0600 (keep offline)
    catalog.toml    the editable catalog
    trust.json      publisher public key + signed catalog (ship to hosts and clients)
    host-keys.json  every host key issued, and the hosts that activated with it
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from openkms._files import atomic_write, private_directory, read_bytes
from openkms.core.catalog import Catalog, Product, parse_catalog_toml
from openkms.core.certificate import (
    ACTIVATION_REQUEST_DOMAIN,
    CERTIFICATE_DOMAIN,
    CERTIFICATE_FORMAT,
    REQUEST_FORMAT,
    ActivationRequestFile,
    CertificateFile,
    HostActivationRequest,
    HostCertificate,
)
from openkms.core.codes import ResultCode
from openkms.core.keys import KeyKind, ProductKey
from openkms.core.shortsig import PhoneSigningKey
from openkms.core.signing import fingerprint, public_bytes, sign, verify
from openkms.core.trust import CATALOG_DOMAIN, Trust, format_publisher_key
from openkms.errors import KeyFormatError, OpenKMSError, SignatureError, StateError
from openkms.publisher.default_catalog import default_catalog_toml

__all__ = ["HostKeyEntry", "Publisher"]


class HostKeyEntry(msgspec.Struct):
    """One issued host key and the hosts that activated with it."""

    key: str
    group: str
    issued_at: int
    activations: dict[str, int] = msgspec.field(default_factory=dict)


class _Ledger(msgspec.Struct):
    host_keys: dict[str, HostKeyEntry] = msgspec.field(default_factory=dict)


class Publisher:
    """The publisher's tools, over one publisher directory."""

    def __init__(self, directory: Path, clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self._clock = clock

    @classmethod
    def init(cls, directory: Path, name: str, clock: Callable[[], float] = time.time) -> Publisher:
        """Create a new publisher: root key, default catalog, trust file, empty ledger."""
        if (directory / "root.key").exists():
            raise StateError(
                f"{directory} already holds a publisher (root.key exists)",
                fix="Choose another directory; never overwrite a root key.",
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
        publisher = cls(directory, clock)
        publisher._save_ledger(_Ledger())
        publisher.sign_catalog()
        return publisher

    # -- catalog -------------------------------------------------------------------------

    def catalog(self) -> Catalog:
        """The catalog as edited (validated, not necessarily signed yet)."""
        path = self.directory / "catalog.toml"
        return parse_catalog_toml(read_bytes(path, "catalog").decode("utf-8", "replace"), str(path))

    def sign_catalog(self) -> Trust:
        """Validate and sign catalog.toml under the next serial; write trust.json.

        Clients replace a pinned catalog only with a higher serial, so every signature
        raises it (the first is 1; a trust.json signed before serials existed counts as 0).
        """
        path = self.directory / "trust.json"
        installed = self.trust() if path.exists() else None
        previous = installed.catalog.serial if installed else 0
        phone_key = PhoneSigningKey.derive(self._root_key().private_bytes_raw()).public_key
        catalog = msgspec.structs.replace(self.catalog(), serial=previous + 1, phone_key=phone_key)
        body = msgspec.msgpack.encode(catalog)
        trust = Trust.create(  # the root key rotations (rotate-root) travel on
            public_bytes(self._root_key()),
            sign(self._root_key(), CATALOG_DOMAIN, body),
            installed.rotations if installed else (),
        )
        atomic_write(self.directory / "trust.json", trust.to_json())
        return trust

    def trust(self) -> Trust:
        """The signed trust document (trust.json)."""
        path = self.directory / "trust.json"
        return Trust.from_json(read_bytes(path, "trust file"), str(path))

    def public_key_text(self) -> str:
        """The publisher key as applications pin it (``okpk1:...``), from the root key."""
        return format_publisher_key(public_bytes(self._root_key()))

    def setup_keys(self) -> tuple[Product, ...]:
        """The setup-key table of the signed catalog."""
        return self.trust().catalog.products

    # -- host keys -----------------------------------------------------------------------

    def issue_host_key(self, group: str) -> ProductKey:
        """A new host key for license group ``group``, recorded in the ledger."""
        catalog = self.trust().catalog
        if group not in catalog.groups:
            raise OpenKMSError(
                f"license group {group!r} is not in the catalog ({', '.join(catalog.groups)})",
                code=ResultCode.INVALID_ARGUMENT,
                fix="Give one of the catalog's license groups with --group (names are "
                "case-sensitive), or add the group to catalog.toml and run sign-catalog.",
            )
        key = ProductKey.generate(KeyKind.HOST, secrets.token_bytes)
        ledger = self._ledger()
        ledger.host_keys[key.key_id] = HostKeyEntry(str(key), group, int(self._clock()))
        self._save_ledger(ledger)
        return key

    def host_keys(self) -> dict[str, HostKeyEntry]:
        """Every host key issued, by key ID."""
        return self._ledger().host_keys

    def activate_host(self, request_data: bytes, days: int | None = None) -> bytes:
        """Verify a host activation request, enforce the key limits, return a certificate file."""
        request = _decode_request(request_data)
        catalog = self.trust().catalog
        key = ProductKey.parse(request.host_key)
        ledger = self._ledger()
        entry = ledger.host_keys.get(key.key_id)
        if entry is None:
            raise KeyFormatError("This host key was not issued by this publisher.")
        self._enforce_limits(entry, request.host_fingerprint, catalog)
        now = int(self._clock())
        validity = (days if days is not None else catalog.certificate_days) * 86400
        cert = HostCertificate(
            serial=secrets.token_hex(8),
            application_id=catalog.application_id,
            host_fingerprint=request.host_fingerprint,
            host_public_key=request.host_public_key,
            host_key_id=key.key_id,
            group=entry.group,
            issued_at=now - 300,
            expires_at=now + validity,
        )
        envelope = sign(self._root_key(), CERTIFICATE_DOMAIN, msgspec.msgpack.encode(cert))
        entry.activations[request.host_fingerprint] = (
            entry.activations.get(request.host_fingerprint, 0) + 1
        )
        self._save_ledger(ledger)
        out = CertificateFile(CERTIFICATE_FORMAT, envelope, self.trust().to_json())
        return msgspec.json.format(msgspec.json.encode(out), indent=2) + b"\n"

    @staticmethod
    def _enforce_limits(entry: HostKeyEntry, host: str, catalog: Catalog) -> None:
        if host not in entry.activations and len(entry.activations) >= catalog.host_key_max_hosts:
            raise OpenKMSError(
                f"this host key is already used on {len(entry.activations)} hosts "
                f"(limit {catalog.host_key_max_hosts})",
                code=ResultCode.HOST_KEY_LIMIT_EXCEEDED,
            )
        if entry.activations.get(host, 0) >= catalog.host_key_max_activations:
            raise OpenKMSError(
                f"this host was already activated {entry.activations[host]} times with this key "
                f"(limit {catalog.host_key_max_activations})",
                code=ResultCode.HOST_KEY_LIMIT_EXCEEDED,
            )

    # -- files ---------------------------------------------------------------------------

    def _root_key(self) -> Ed25519PrivateKey:
        data = read_bytes(self.directory / "root.key", "publisher root key")
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise StateError(f"{self.directory / 'root.key'} is not a PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise StateError(f"{self.directory / 'root.key'} is not an Ed25519 key")
        return key

    def _ledger(self) -> _Ledger:
        path = self.directory / "host-keys.json"
        try:
            return msgspec.json.decode(read_bytes(path, "host-key ledger"), type=_Ledger)
        except msgspec.DecodeError as exc:
            raise StateError(f"{path} is corrupt: {exc}") from None

    def _save_ledger(self, ledger: _Ledger) -> None:
        data = msgspec.json.format(msgspec.json.encode(ledger), indent=2) + b"\n"
        atomic_write(self.directory / "host-keys.json", data, mode=0o600)


def _decode_request(data: bytes) -> HostActivationRequest:
    try:
        wrapper = msgspec.json.decode(data, type=ActivationRequestFile)
        if wrapper.format != REQUEST_FORMAT:
            raise StateError(f"not a host activation request (format {wrapper.format!r})")
        request = msgspec.msgpack.decode(wrapper.request.body, type=HostActivationRequest)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise StateError(f"not a host activation request: {exc}") from None
    if not verify(request.host_public_key, ACTIVATION_REQUEST_DOMAIN, wrapper.request):
        raise SignatureError(
            "The activation request's signature does not match its host key.",
            code=ResultCode.CERTIFICATE_INVALID,
            fix="Create the request again with 'openkms host activation-request'.",
        )
    if not request.host_fingerprint.startswith(fingerprint(request.host_public_key)):
        raise SignatureError(
            "The activation request's fingerprint does not belong to its public key.",
            code=ResultCode.CERTIFICATE_INVALID,
        )
    return request


def certificate_expiry_text(cert: HostCertificate) -> str:
    """The certificate's expiry as an ISO date (UTC)."""
    return dt.datetime.fromtimestamp(cert.expires_at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
