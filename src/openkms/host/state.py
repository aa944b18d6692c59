"""A host's store directory: its key, settings, trust, certificate and identity.

:meth:`HostState.snapshot` reads the directory once into an immutable
:class:`~openkms.core.host.HostSnapshot`; reading never creates a file. Only the commands
that must make the host's identity create host.key, explicitly: ``ipk`` and
``activation-request`` (:meth:`HostState.create_identity`).

Layout of ``--store DIR``::

    host.json         settings and the installed host key (its ID and partial key only,
                      after ``cpky``)
    host.key          the host's Ed25519 private key, PEM, mode 0600
    trust.json        the publisher's trust document (pinned at ipk or with the certificate)
    certificate.json  the host certificate issued by the publisher
    revocations.json  the publisher's latest revocation list (install-revocations, fetched)
    host.db           the SQLite database (clients, counters, events)
"""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import msgspec

from openkms._files import atomic_write, private_directory, read_bytes
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
from openkms.core.host import HostActivation, HostSnapshot, missing_identity
from openkms.core.host_settings import HostSettings, SettingError
from openkms.core.installed_key import InstalledKey
from openkms.core.key_pem import PemKeyError, PemProblem, decode_private_key, encode_private_key
from openkms.core.keys import KeyKind, ProductKey
from openkms.core.signing import Ed25519Key, fingerprint, public_bytes, sign
from openkms.core.trust import Trust
from openkms.dns.status import read_status
from openkms.errors import KeyFormatError, OpenKMSError, SignatureError, StateError
from openkms.host.revocation_file import read_revocations, revoked_problem
from openkms.i18n import N_, _

# HostActivation and HostSettings live in core/ (the admin server uses them without the
# host); they stay importable from here for the host's own modules.
__all__ = ["HostActivation", "HostSettings", "HostState", "machine_id"]

STATE_FORMAT = "openkms-host/1"


class _HostFile(msgspec.Struct):
    format: str = STATE_FORMAT
    host_key: str | None = None
    settings: HostSettings = msgspec.field(default_factory=HostSettings)
    # After ``cpky``: what stays of the key once its text is gone.
    host_key_id: str | None = None
    host_key_partial: str | None = None

    def installed_key(self) -> InstalledKey | None:
        """The installed host key, its text or only its ID and partial key (None: none)."""
        if self.host_key:
            return InstalledKey.of(ProductKey(self.host_key))
        if self.host_key_id and self.host_key_partial:
            return InstalledKey(self.host_key_id, self.host_key_partial, None)
        return None


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


def host_id_of(host_fingerprint: str) -> str:
    """The host's identifier shown to clients (the 'extended PID' analogue)."""
    return "OKMS-" + host_fingerprint[:12].upper()


class HostState:
    """Reads and writes one host store directory; :meth:`snapshot` reads it once."""

    def __init__(self, directory: Path, machine: str | None = None) -> None:
        self.directory = directory
        self._machine_id = machine if machine is not None else machine_id()

    # -- reading -------------------------------------------------------------------------

    def snapshot(self, now: int) -> HostSnapshot:
        """Everything the directory holds, read once (creates nothing)."""
        host_file = self._read()
        key = host_file.installed_key()
        private = self._read_private_key()
        public = public_bytes(private) if private is not None else None
        host_fingerprint = self._fingerprint(public) if public is not None else None
        activation = self._activation(key, host_fingerprint, now)
        return HostSnapshot(
            directory=self.directory,
            host_key=key,
            settings=host_file.settings,
            activation=activation,
            private_key=private,
            public_key=public,
            fingerprint=host_fingerprint,
            host_id=host_id_of(host_fingerprint) if host_fingerprint else None,
            dns_status=read_status(self.directory),
        )

    @property
    def settings(self) -> HostSettings:
        """The current settings (host.json alone)."""
        return self._read().settings

    def host_key(self) -> InstalledKey | None:
        """The installed host key, if any (host.json alone)."""
        return self._read().installed_key()

    def trust(self) -> Trust | None:
        """The pinned trust, if any (trust.json alone)."""
        path = self.directory / "trust.json"
        if not path.exists():
            return None
        return Trust.from_json(read_bytes(path, _("trust file")), str(path))

    def activation(self, now: int) -> HostActivation:
        """The host's activation: certificate and trust, or the reason it cannot sign."""
        return self.snapshot(now).activation

    def private_key(self) -> Ed25519Key:
        """The host's signing key; StateError when host.key is missing."""
        key = self._read_private_key()
        if key is None:
            raise missing_identity(self.directory)
        return key

    @property
    def fingerprint(self) -> str:
        """Public-key fingerprint and machine hash; StateError when host.key is missing."""
        return self._fingerprint(public_bytes(self.private_key()))

    @property
    def host_id(self) -> str:
        """The host's identifier shown to clients; StateError when host.key is missing."""
        return host_id_of(self.fingerprint)

    # -- writing -------------------------------------------------------------------------

    def update_settings(self, **changes: object) -> HostSettings:
        """Validate ``changes`` (SettingError if one is bad), apply them and save host.json."""
        state = self._read()
        state.settings = state.settings.validated(**changes)
        self._save(state)
        return state.settings

    def install_key(self, text: str, trust: Trust | None = None) -> ProductKey:
        """Install a host key (``ipk``) and make the host's identity if it has none."""
        key = ProductKey.parse(text)
        if key.kind is not KeyKind.HOST:
            raise KeyFormatError(
                _("This is a setup (client) key; a host needs the host key sold by the publisher."),
                fix=_("Install the setup key on a client with 'openkms client ipk'."),
            )
        private_directory(self.directory)
        state = self._read()
        installed = state.installed_key()
        if installed is None or installed.key_id != key.key_id:  # the same key again: kept
            (self.directory / "certificate.json").unlink(missing_ok=True)
        state.host_key = key.symbols
        state.host_key_id = state.host_key_partial = None
        self._save(state)
        if trust is not None:
            self.install_trust(trust)
        self.create_identity()
        return key

    def uninstall_key(self) -> InstalledKey | None:
        """Remove the host key and its certificate (``upk``); None when none is installed.

        The identity (host.key), the settings and the store stay: installing the key again
        makes the same host, which the publisher counts once.
        """
        state = self._read()
        key = state.installed_key()
        if key is None:
            return None
        state.host_key = state.host_key_id = state.host_key_partial = None
        (self.directory / "certificate.json").unlink(missing_ok=True)
        self._save(state)
        return key

    def clear_key_text(self) -> InstalledKey | None:
        """``cpky``: remove the host key's text from host.json; None when none is installed.

        Its ID and partial key stay, and with them the certificate: the host goes on
        serving. Only what needs the whole key (an activation request) asks for it again.
        """
        state = self._read()
        key = state.installed_key()
        if key is None:
            return None
        state.host_key = None
        state.host_key_id, state.host_key_partial = key.key_id, key.partial
        self._save(state)
        return key

    def create_identity(self) -> Ed25519Key:
        """The host's private key, made (host.key, mode 0600) when there is none yet."""
        existing = self._read_private_key()
        if existing is not None:
            return existing
        key = Ed25519Key.generate()
        atomic_write(self.directory / "host.key", encode_private_key(key), mode=0o600)
        return key

    def activation_request(self, machine_name: str, now: int) -> bytes:
        """The request file to send to the publisher (makes the identity if it is missing)."""
        installed = self.host_key()
        if installed is None:
            raise KeyFormatError(code=ResultCode.NO_PRODUCT_KEY)
        key = installed.require_text(
            _("an activation request"), "openkms host --store DIR ipk HOST-KEY"
        )
        private = self.create_identity()
        public = public_bytes(private)
        request = HostActivationRequest(
            str(key), public, self._fingerprint(public), machine_name, now
        )
        envelope = sign(private, ACTIVATION_REQUEST_DOMAIN, msgspec.msgpack.encode(request))
        wrapper = ActivationRequestFile(REQUEST_FORMAT, envelope)
        return msgspec.json.format(msgspec.json.encode(wrapper), indent=2) + b"\n"

    def install_certificate(self, data: bytes, now: int) -> HostCertificate:
        """Verify and install a certificate file from the publisher."""
        cert_file = _decode_certificate(data)
        trust = self._trust_for(Trust.from_json(cert_file.trust, _("certificate trust")))
        cert = verify_certificate(cert_file.certificate, trust)
        private = self._read_private_key()
        host_fingerprint = self._fingerprint(public_bytes(private)) if private else None
        problem = _problem(cert, self.host_key(), host_fingerprint, now)
        if problem is not None:
            raise SignatureError(problem, code=ResultCode.CERTIFICATE_INVALID)
        atomic_write(self.directory / "trust.json", trust.to_json())
        atomic_write(self.directory / "certificate.json", data)
        return cert

    def install_trust(self, trust: Trust) -> bool:
        """Install ``trust`` unless the installed one is the same (False) or newer.

        The rule of ``Trust.check_newer_than``: a higher catalog serial, and after a root key
        rotation only a document whose chain continues the installed one (PUBLISHER_MISMATCH
        for another publisher or a retired key, CATALOG_NOT_NEWER for an older catalog).
        """
        installed = self.trust()
        if installed is not None and not trust.check_newer_than(installed):
            return False
        atomic_write(self.directory / "trust.json", trust.to_json())
        return True

    def _trust_for(self, offered: Trust) -> Trust:
        """The trust to check a certificate with: ``offered`` if it succeeds the installed one."""
        installed = self.trust()
        if installed is None:
            return offered
        try:
            return offered if offered.check_newer_than(installed) else installed
        except OpenKMSError:
            return installed

    # -- the files -----------------------------------------------------------------------

    def _read(self) -> _HostFile:
        """host.json (defaults if the host was never configured), its settings checked."""
        path = self.directory / "host.json"
        if not path.exists():
            return _HostFile()
        try:
            state = msgspec.json.decode(read_bytes(path, _("host state")), type=_HostFile)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise StateError(_("{path} is corrupt: {exc}").format(path=path, exc=exc)) from None
        if state.format != STATE_FORMAT:
            raise StateError(
                _("{path}: format {format!r}, expected {state_format!r}").format(
                    path=path, format=state.format, state_format=STATE_FORMAT
                )
            )
        try:
            state.settings = state.settings.checked()
        except SettingError as exc:
            raise StateError(
                _("{path}: {message}").format(path=path, message=exc.message), fix=exc.fix
            ) from None
        return state

    def _save(self, state: _HostFile) -> None:
        data = msgspec.json.format(msgspec.json.encode(state), indent=2) + b"\n"
        atomic_write(self.directory / "host.json", data)

    def _read_private_key(self) -> Ed25519Key | None:
        path = self.directory / "host.key"
        if not path.exists():
            return None
        try:
            return decode_private_key(read_bytes(path, _("host key")))
        except PemKeyError as exc:
            if exc.problem is PemProblem.NOT_ED25519:
                raise StateError(_("{path} is not an Ed25519 key").format(path=path)) from None
            raise StateError(_("{path} is not a PEM private key").format(path=path)) from None

    def _fingerprint(self, public: bytes) -> str:
        """Public-key fingerprint and machine hash: changes when the host moves hardware."""
        machine = hashlib.sha256(self._machine_id.encode()).hexdigest()[:16]
        return f"{fingerprint(public)}:{machine}"

    def _activation(
        self, key: InstalledKey | None, host_fingerprint: str | None, now: int
    ) -> HostActivation:
        path = self.directory / "certificate.json"
        trust = self.trust()
        revocations = read_revocations(self.directory, trust)
        if not path.exists() or trust is None:
            missing = N_("no host certificate is installed")
            return HostActivation(None, None, trust, missing, revocations)
        try:
            cert_file = _decode_certificate(read_bytes(path, _("certificate")))
            cert = verify_certificate(cert_file.certificate, trust)
        except (SignatureError, StateError) as exc:
            invalid = f"the certificate is invalid: {exc}"
            return HostActivation(None, None, trust, invalid, revocations)
        problem = _problem(cert, key, host_fingerprint, now)
        revoked = revocations.revocation_of(cert) if revocations is not None else None
        if revoked is not None:
            problem = revoked_problem(revoked)
        return HostActivation(cert, cert_file.certificate, trust, problem, revocations, revoked)


def _decode_certificate(data: bytes) -> CertificateFile:
    try:
        cert_file = msgspec.json.decode(data, type=CertificateFile)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise StateError(_("not a host certificate file: {exc}").format(exc=exc)) from None
    if cert_file.format != CERTIFICATE_FORMAT:
        raise StateError(
            _("not a host certificate file (format {format!r})").format(format=cert_file.format)
        )
    return cert_file


def _problem(
    cert: HostCertificate, key: InstalledKey | None, host_fingerprint: str | None, now: int
) -> str | None:
    """Why ``cert`` does not let this host sign, or None."""
    if cert.mak:
        return N_("this is the publisher's MAK service certificate, not a host certificate")
    if key is None or cert.host_key_id != key.key_id:
        return N_("the certificate is for another host key")
    if host_fingerprint is None:
        return N_("host.key is missing: the certificate's identity is gone")
    if cert.host_fingerprint != host_fingerprint:
        return N_("the certificate is for another machine (hardware out of tolerance)")
    if now >= cert.expires_at:
        return N_("the certificate has expired")
    return None
