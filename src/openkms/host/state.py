"""A host's store directory: its key, settings, trust, certificate and identity.

Layout of ``--store DIR``::

    host.json         settings and the installed host key
    host.key          the host's Ed25519 private key, PEM, mode 0600
    trust.json        the publisher's trust document (pinned at ipk or with the certificate)
    certificate.json  the host certificate issued by the publisher
    host.db           the SQLite database (clients, counters, events)
"""

from __future__ import annotations

import hashlib
import socket
from dataclasses import dataclass
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from openkms._files import atomic_write, read_bytes
from openkms.core import settings
from openkms.core.certificate import (
    ACTIVATION_REQUEST_DOMAIN,
    CERTIFICATE_FORMAT,
    REQUEST_FORMAT,
    ActivationRequestFile,
    CertificateFile,
    HostActivationRequest,
    HostCertificate,
    verify_certificate,
)
from openkms.core.codes import ResultCode
from openkms.core.keys import KeyKind, ProductKey
from openkms.core.signing import Envelope, fingerprint, public_bytes, sign
from openkms.core.trust import Trust
from openkms.errors import KeyFormatError, SignatureError, StateError

__all__ = ["HostActivation", "HostSettings", "HostState", "machine_id"]

STATE_FORMAT = "openkms-host/1"


class HostSettings(msgspec.Struct):
    """What ``sprt``, ``sai``, ``sri``, ``sdns``/``cdns`` and ``spri``/``cpri`` change."""

    port: int = settings.DEFAULT_PORT
    activation_interval: int = settings.ACTIVATION_INTERVAL_MIN
    renewal_interval: int = settings.RENEWAL_INTERVAL_MIN
    dns_publishing: bool = True
    low_priority: bool = False
    # DNS publishing (``host dns-config``); see docs/dns.md.
    dns_domain: str | None = None  # own domain; None: from the target's FQDN
    dns_publish_list: list[str] = msgspec.field(default_factory=list)  # "domain[,prio[,weight]]"
    dns_servers: list[str] = msgspec.field(default_factory=list)  # ADDR[:PORT]; []: resolv.conf
    dns_tsig_key_file: str | None = None
    dns_ttl: int = settings.DNS_TTL_SECONDS
    dns_republish_hours: float = settings.DNS_REPUBLISH_HOURS
    dns_target: str | None = None  # SRV target; None: this machine's FQDN
    dns_priority: int = 0
    dns_weight: int = 0
    dns_publish_addresses: bool = False  # also publish A/AAAA for the target
    dns_addresses: list[str] = msgspec.field(default_factory=list)  # []: the listen addresses
    dns_service: str | None = None  # None: the catalog's service
    dns_timeout: float = settings.DNS_TIMEOUT_SECONDS


class _HostFile(msgspec.Struct):
    format: str = STATE_FORMAT
    host_key: str | None = None
    settings: HostSettings = msgspec.field(default_factory=HostSettings)


@dataclass(frozen=True, slots=True)
class HostActivation:
    """Whether the host may sign, and why not."""

    certificate: HostCertificate | None
    envelope: Envelope | None
    trust: Trust | None
    problem: str | None

    @property
    def activated(self) -> bool:
        """True when a valid certificate for this host is installed."""
        return self.problem is None


def machine_id() -> str:
    """A stable identifier of this machine (``/etc/machine-id``, else the host name)."""
    for candidate in (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id")):
        try:
            value = candidate.read_text().strip()
        except OSError:
            continue
        if value:
            return value
    return socket.gethostname()


class HostState:
    """Reads and writes one host store directory."""

    def __init__(self, directory: Path, machine: str | None = None) -> None:
        self.directory = directory
        self._machine_id = machine if machine is not None else machine_id()

    # -- settings and key ----------------------------------------------------------------

    def load(self) -> _HostFile:
        """host.json (defaults if the host was never configured)."""
        path = self.directory / "host.json"
        if not path.exists():
            return _HostFile()
        try:
            state = msgspec.json.decode(read_bytes(path, "host state"), type=_HostFile)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise StateError(f"{path} is corrupt: {exc}") from None
        if state.format != STATE_FORMAT:
            raise StateError(f"{path}: format {state.format!r}, expected {STATE_FORMAT!r}")
        return state

    def save(self, state: _HostFile) -> None:
        """Write host.json atomically."""
        data = msgspec.json.format(msgspec.json.encode(state), indent=2) + b"\n"
        atomic_write(self.directory / "host.json", data)

    @property
    def settings(self) -> HostSettings:
        """The current settings."""
        return self.load().settings

    def update_settings(self, **changes: object) -> HostSettings:
        """Change some settings and save them."""
        state = self.load()
        state.settings = msgspec.structs.replace(state.settings, **changes)
        self.save(state)
        return state.settings

    def install_key(self, text: str, trust: Trust | None = None) -> ProductKey:
        """Install a host key (``ipk``); a setup key here is refused with the fix."""
        key = ProductKey.parse(text)
        if key.kind is not KeyKind.HOST:
            raise KeyFormatError(
                "This is a setup (client) key; a host needs the host key sold by the publisher.",
                fix="Install the setup key on a client with 'openkms client ipk'.",
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        state = self.load()
        if state.host_key != key.symbols:
            (self.directory / "certificate.json").unlink(missing_ok=True)
        state.host_key = key.symbols
        self.save(state)
        if trust is not None:
            atomic_write(self.directory / "trust.json", trust.to_json())
        self._private_key()
        return key

    def host_key(self) -> ProductKey | None:
        """The installed host key, if any."""
        text = self.load().host_key
        return ProductKey(text) if text else None

    # -- identity ------------------------------------------------------------------------

    def _private_key(self) -> Ed25519PrivateKey:
        path = self.directory / "host.key"
        if not path.exists():
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            atomic_write(path, pem, mode=0o600)
            return key
        try:
            loaded = serialization.load_pem_private_key(read_bytes(path, "host key"), None)
        except (ValueError, TypeError):
            raise StateError(f"{path} is not a PEM private key") from None
        if not isinstance(loaded, Ed25519PrivateKey):
            raise StateError(f"{path} is not an Ed25519 key")
        return loaded

    def private_key(self) -> Ed25519PrivateKey:
        """The host's signing key (created on first use)."""
        return self._private_key()

    @property
    def fingerprint(self) -> str:
        """Public-key fingerprint and machine hash: changes when the host moves hardware."""
        machine = hashlib.sha256(self._machine_id.encode()).hexdigest()[:16]
        return f"{fingerprint(public_bytes(self._private_key()))}:{machine}"

    @property
    def host_id(self) -> str:
        """The host's identifier shown to clients (the 'extended PID' analogue)."""
        return "OKMS-" + self.fingerprint[:12].upper()

    def activation_request(self, machine_name: str, now: int) -> bytes:
        """The request file to send to the publisher."""
        key = self.host_key()
        if key is None:
            raise KeyFormatError(code=ResultCode.NO_PRODUCT_KEY)
        private = self._private_key()
        request = HostActivationRequest(
            str(key), public_bytes(private), self.fingerprint, machine_name, now
        )
        envelope = sign(private, ACTIVATION_REQUEST_DOMAIN, msgspec.msgpack.encode(request))
        wrapper = ActivationRequestFile(REQUEST_FORMAT, envelope)
        return msgspec.json.format(msgspec.json.encode(wrapper), indent=2) + b"\n"

    # -- trust and certificate -----------------------------------------------------------

    def trust(self) -> Trust | None:
        """The pinned trust, if any."""
        path = self.directory / "trust.json"
        if not path.exists():
            return None
        return Trust.from_json(read_bytes(path, "trust file"), str(path))

    def install_certificate(self, data: bytes, now: int) -> HostCertificate:
        """Verify and install a certificate file from the publisher."""
        try:
            cert_file = msgspec.json.decode(data, type=CertificateFile)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise StateError(f"not a host certificate file: {exc}") from None
        if cert_file.format != CERTIFICATE_FORMAT:
            raise StateError(f"not a host certificate file (format {cert_file.format!r})")
        trust = self.trust() or Trust.from_json(cert_file.trust, "certificate trust")
        cert = verify_certificate(cert_file.certificate, trust)
        problem = self._problem(cert, now)
        if problem is not None:
            raise SignatureError(problem, code=ResultCode.CERTIFICATE_INVALID)
        atomic_write(self.directory / "trust.json", trust.to_json())
        atomic_write(self.directory / "certificate.json", data)
        return cert

    def activation(self, now: int) -> HostActivation:
        """The host's activation: certificate and trust, or the reason it cannot sign."""
        path = self.directory / "certificate.json"
        trust = self.trust()
        if not path.exists() or trust is None:
            return HostActivation(None, None, trust, "no host certificate is installed")
        try:
            cert_file = msgspec.json.decode(read_bytes(path, "certificate"), type=CertificateFile)
            cert = verify_certificate(cert_file.certificate, trust)
        except (msgspec.DecodeError, SignatureError, StateError) as exc:
            return HostActivation(None, None, trust, f"the certificate is invalid: {exc}")
        return HostActivation(cert, cert_file.certificate, trust, self._problem(cert, now))

    def _problem(self, cert: HostCertificate, now: int) -> str | None:
        key = self.host_key()
        if key is None or cert.host_key_id != key.key_id:
            return "the certificate is for another host key"
        if cert.host_fingerprint != self.fingerprint:
            return "the certificate is for another machine (hardware out of tolerance)"
        if now >= cert.expires_at:
            return "the certificate has expired"
        return None
