"""What a host is, as data: its snapshot, its activation and the information ``dlv`` shows.

Pure types, no IO: ``host/state.py`` reads the store directory into a :class:`HostSnapshot`
once; the host, ``host dli``/``dlv``, the doctor and the admin server all read that snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from openkms import __version__
from openkms.core.certificate import HostCertificate
from openkms.core.host_settings import HostSettings
from openkms.core.installed_key import InstalledKey
from openkms.core.revocation import RevocationEntry, RevocationList
from openkms.core.signing import Envelope, SigningKey
from openkms.core.trust import Trust
from openkms.errors import StateError
from openkms.i18n import _

__all__ = [
    "DomainStatus",
    "HostActivation",
    "HostClock",
    "HostInfo",
    "HostSnapshot",
    "PeerHostInfo",
    "PublishStatus",
    "missing_identity",
]


@dataclass(frozen=True, slots=True)
class HostActivation:
    """Whether the host may sign, and why not."""

    certificate: HostCertificate | None
    envelope: Envelope | None
    trust: Trust | None
    problem: str | None
    # The publisher's revocation list installed in the store, and its entry that revokes
    # this host's certificate (the host then refuses activations with 0xC004C003).
    revocations: RevocationList | None = None
    revoked: RevocationEntry | None = None

    @property
    def activated(self) -> bool:
        """True when a valid certificate for this host is installed."""
        return self.problem is None


class DomainStatus(msgspec.Struct, frozen=True):
    """The outcome of the last update in one domain."""

    domain: str
    result: str
    message: str
    time: int


class PublishStatus(msgspec.Struct):
    """What ``dli`` shows about DNS publishing."""

    enabled: bool = True
    last_run: int = 0
    next_run: int = 0
    record: str = ""
    domains: list[DomainStatus] = msgspec.field(default_factory=list)


@dataclass(frozen=True, slots=True)
class HostSnapshot:
    """A host's store directory as read once: key, settings, trust, certificate, identity.

    ``private_key``, ``fingerprint`` and ``host_id`` are None when host.key is missing (a
    host that never installed a key, or lost its identity); reading never creates it.
    """

    directory: Path
    host_key: InstalledKey | None
    settings: HostSettings
    activation: HostActivation
    private_key: SigningKey | None = field(repr=False)
    public_key: bytes | None
    fingerprint: str | None
    host_id: str | None
    dns_status: PublishStatus | None = None

    @property
    def trust(self) -> Trust | None:
        """The pinned trust, if any."""
        return self.activation.trust

    def signing_key(self) -> SigningKey:
        """The host's private key; StateError when host.key is missing."""
        if self.private_key is None:
            raise missing_identity(self.directory)
        return self.private_key

    def identity(self) -> str:
        """The host's identifier (``OKMS-...``); StateError when host.key is missing."""
        self.signing_key()
        assert self.host_id is not None
        return self.host_id


def missing_identity(directory: Path) -> StateError:
    """The error of an operation that needs the host's identity when host.key is missing."""
    return StateError(
        _("{directory} is missing: the host has no identity").format(
            directory=directory / "host.key"
        ),
        fix=_(
            "Restore host.key from a backup, or make a new identity with "
            "'openkms host activation-request' and activate the host again."
        ),
    )


class PeerHostInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A host sharing this host's database, as ``dli`` and the dashboard show it."""

    host_id: str
    first_request: int  # epoch seconds (UTC) of its first and last recorded request
    last_request: int
    this_host: bool
    listening: list[str] = msgspec.field(default_factory=list)  # known for this host only


class HostClock(msgspec.Struct, frozen=True, kw_only=True):
    """What ``dli`` shows of the host's clock: its last jump (event 12321, ``seconds`` + forward,
    - back) and the clients dated in the future, which are not counted."""

    last_jump_at: int | None = None
    last_jump_seconds: int | None = None
    future_clients: int = 0


class HostInfo(msgspec.Struct, kw_only=True):
    """A host's licensing information, as ``slmgr /dlv`` shows it on a KMS host."""

    name: str
    description: str
    partial_product_key: str | None
    license_status: str
    activated: bool
    problem: str | None
    certificate_group: str | None
    certificate_expires_at: int | None
    current_count: int
    port: int
    dns_publishing: bool
    low_priority: bool
    activation_interval: int
    renewal_interval: int
    total_requests: int
    failed_requests: int
    requests_by_status: dict[str, int]
    version: str = __version__
    application_id: str | None = None
    extended_pid: str = ""
    installation_id: str = ""
    trusted_time: int = 0
    dns_status: PublishStatus | None = None
    certificate_serial: str | None = None
    # When the publisher revoked this host's certificate (or host key), and why.
    revoked_at: int | None = None
    revocation_reason: str = ""
    revocations_serial: int = 0  # the serial of the installed revocation list (0: none)
    catalog_serial: int = 0
    # The addresses a serving host listens on (``port`` is then the first one's); empty when
    # no host serves the store, and ``port`` is the one set with ``sprt``.
    listening: list[str] = msgspec.field(default_factory=list)
    # The hosts sharing a PostgreSQL store (this one included); empty for a store of its own.
    peers: list[PeerHostInfo] = msgspec.field(default_factory=list)
    clock: HostClock = msgspec.field(default_factory=HostClock)
