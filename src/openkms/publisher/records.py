"""The publisher's records: keys issued, activations per key and machine, the audit log.

One interface, :class:`PublisherRecords`, two databases: SQLite ``DIR/publisher.db`` (0600)
by default, PostgreSQL with a DSN (``--database`` / ``OPENKMS_PUBLISHER_DATABASE``). The
rule that decides a claim ("activate key K for machine M") is :func:`decide_claim`, a pure
function both databases apply under a lock on the key, so a key's limit holds under
concurrent requests and a machine is never counted twice:

* an unknown key (or one of another kind) is refused, a blocked key is refused;
* a machine already recorded for the key is the *same machine again*, whether it activated
  online or by phone before (:mod:`openkms.publisher.machines` finds it): no new activation
  is used (a host key still limits how many times one host may activate, per the catalog,
  counting both ways);
* a new machine takes one of the key's activations, or is refused when none is left.

The audit log is append-only (the databases refuse UPDATE and DELETE on it).
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from typing import Protocol

from openkms.core.codes import ResultCode
from openkms.core.keys import KeyKind
from openkms.errors import KeyFormatError, OpenKMSError
from openkms.i18n import _

__all__ = [
    "DATABASE_ENV",
    "KEY_COLUMNS",
    "PHONE_PREFIX",
    "AuditEntry",
    "Claim",
    "ClaimOutcome",
    "ClaimRequest",
    "IssuedKey",
    "KeyUsage",
    "MachineActivation",
    "PublisherRecords",
    "claim_error",
    "decide_claim",
    "database_from_env",
    "phone_machine",
]

DATABASE_ENV = "OPENKMS_PUBLISHER_DATABASE"
PHONE_PREFIX = "phone:"  # a machine known only by its phone reference


def phone_machine(reference: int) -> str:
    """The records' name of a machine's phone reference (``phone:<hex>``)."""
    return f"{PHONE_PREFIX}{reference:x}"


def database_from_env(given: str | None) -> str | None:
    """The DSN given, else ``OPENKMS_PUBLISHER_DATABASE``, else None (SQLite)."""
    return given or os.environ.get(DATABASE_ENV) or None


# The ``issued_keys`` columns, in the order of IssuedKey.row() (both databases).
KEY_COLUMNS = (
    "key_id, key, kind, group_name, activation_id, activations_allowed, per_machine_limit, "
    "issued_at, blocked_at"
)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """One key the publisher issued: a host key (of a license group) or a MAK (of a product).

    ``activations_allowed`` is the number of machines (hosts, or MAK clients) the key may
    activate; ``per_machine_limit`` how often one host may activate (None for a MAK).
    """

    key_id: str
    key: str
    kind: KeyKind
    group: str | None
    activation_id: str | None
    activations_allowed: int
    per_machine_limit: int | None
    issued_at: int
    blocked_at: int | None = None

    def row(self) -> tuple[object, ...]:
        """The values of an ``issued_keys`` row, in the order of ``KEY_COLUMNS``."""
        return (
            self.key_id,
            self.key,
            self.kind.value,
            self.group,
            self.activation_id,
            self.activations_allowed,
            self.per_machine_limit,
            self.issued_at,
            self.blocked_at,
        )


@dataclass(frozen=True, slots=True)
class MachineActivation:
    """The activations of one key by one machine.

    ``machine`` is a host's fingerprint or a client's CMID, or ``phone:<hex>`` for a machine
    only activated by phone; ``phone_ref`` its phone reference (None for a host recorded
    before references were: its public key is unknown until it activates online again).
    """

    key_id: str
    machine: str
    machine_name: str
    first_at: int
    last_at: int
    count: int
    phone_ref: str | None = None


@dataclass(frozen=True, slots=True)
class KeyUsage:
    """A key and the machines that activated with it (``publisher report``)."""

    key: IssuedKey
    machines: tuple[MachineActivation, ...]

    @property
    def used(self) -> int:
        """Activations used: the number of distinct machines."""
        return len(self.machines)

    @property
    def left(self) -> int:
        """Activations left."""
        return max(0, self.key.activations_allowed - self.used)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit log: who did what to which subject, when."""

    at: int
    actor: str
    action: str
    subject: str
    detail: str
    seq: int = 0


class ClaimOutcome(enum.Enum):
    """What a claim decided."""

    NEW_MACHINE = "new-machine"
    SAME_MACHINE = "same-machine"
    UNKNOWN_KEY = "unknown-key"
    BLOCKED = "blocked"
    KEY_USED_UP = "key-used-up"
    MACHINE_LIMIT = "machine-limit"

    @property
    def granted(self) -> bool:
        """True when the activation may go ahead."""
        return self in (ClaimOutcome.NEW_MACHINE, ClaimOutcome.SAME_MACHINE)


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """A request to activate key ``key_id`` (of ``kind``) for ``machine`` at ``now``.

    ``phone_ref`` is the machine's phone reference (``phone:<hex>``); a phone claim's
    ``machine`` is that reference itself.
    """

    key_id: str
    kind: KeyKind
    machine: str
    machine_name: str
    now: int
    actor: str
    phone_ref: str | None = None

    @property
    def by_phone(self) -> bool:
        """True for a phone activation (the machine known only by its reference)."""
        return self.machine.startswith(PHONE_PREFIX)

    @property
    def audit_detail(self) -> str:
        """The audit line's detail of this claim (the outcome is prepended)."""
        detail = f"machine={self.machine} name={self.machine_name}"
        if self.phone_ref is not None and self.phone_ref != self.machine:
            detail += f" ref={self.phone_ref}"
        return detail

    def audit_entry(self, outcome: ClaimOutcome, merged: tuple[str, ...] = ()) -> AuditEntry:
        """The audit line both databases append for this claim's ``outcome``.

        ``merged`` names the records of the same machine merged into one by this claim.
        """
        action = f"activate-{self.kind.value}"
        detail = f"{outcome.value} {self.audit_detail}"
        if merged:
            detail += f" merged={','.join(merged)}"
        return AuditEntry(self.now, self.actor, action, self.key_id, detail)


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of a claim, the key claimed and its machines used after it."""

    outcome: ClaimOutcome
    key: IssuedKey | None
    used: int


def decide_claim(
    key: IssuedKey | None,
    kind: KeyKind,
    existing: MachineActivation | None,
    used: int,
) -> ClaimOutcome:
    """The claim rule: may ``key`` activate one more time for a machine (see the module)."""
    if key is None or key.kind is not kind:
        return ClaimOutcome.UNKNOWN_KEY
    if key.blocked_at is not None:
        return ClaimOutcome.BLOCKED
    if existing is not None:
        limit = key.per_machine_limit
        if limit is not None and existing.count >= limit:
            return ClaimOutcome.MACHINE_LIMIT
        return ClaimOutcome.SAME_MACHINE
    if used >= key.activations_allowed:
        return ClaimOutcome.KEY_USED_UP
    return ClaimOutcome.NEW_MACHINE


def claim_error(claim: Claim) -> OpenKMSError:
    """The error a refused claim reaches the user as (0xC004C008, 0xC004C003, 0xC004F050)."""
    key = claim.key
    if claim.outcome is ClaimOutcome.UNKNOWN_KEY or key is None:
        return KeyFormatError(
            _("This key was not issued by this publisher (or is not of this kind)."),
            fix=_("Check the key; a host key activates a host, a MAK a client."),
        )
    if claim.outcome is ClaimOutcome.BLOCKED:
        return OpenKMSError(
            _("The publisher has blocked this product key."),
            code=_BLOCKED,
            fix=_("Obtain a new key from the publisher; this one will not activate again."),
        )
    if claim.outcome is ClaimOutcome.MACHINE_LIMIT:
        return OpenKMSError(
            _(
                "this host was already activated {per_machine_limit} times with this key "
                "(limit {per_machine_limit})"
            ).format(per_machine_limit=key.per_machine_limit),
            code=_USED_UP,
        )
    what = "hosts" if key.kind is KeyKind.HOST else "machines"
    return OpenKMSError(
        _("this key is already used on {used} {what} (limit {activations_allowed})").format(
            used=claim.used, what=what, activations_allowed=key.activations_allowed
        ),
        code=_USED_UP,
    )


_BLOCKED = ResultCode.KEY_BLOCKED
_USED_UP = ResultCode.HOST_KEY_LIMIT_EXCEEDED


class PublisherRecords(Protocol):
    """The publisher's database (SQLite or PostgreSQL)."""

    async def open(self) -> None:
        """Connect, migrate the schema to this version."""

    async def close(self) -> None:
        """Release the connections."""

    async def add_key(self, key: IssuedKey, actor: str) -> None:
        """Record an issued key (and the audit line)."""

    async def import_key(
        self, key: IssuedKey, machines: tuple[MachineActivation, ...], actor: str
    ) -> bool:
        """Record a key and its machines from an older ledger; False if already recorded."""

    async def key(self, key_id: str) -> IssuedKey | None:
        """The issued key with this ID, or None."""

    async def keys(self) -> list[IssuedKey]:
        """Every issued key, oldest first."""

    async def usage(self) -> list[KeyUsage]:
        """Every issued key with its machines, oldest first."""

    async def claim(self, request: ClaimRequest) -> Claim:
        """Atomically apply :func:`decide_claim` and record the result (and the audit line)."""

    async def block_key(self, key_id: str, now: int, actor: str) -> IssuedKey | None:
        """Mark a key blocked (kept when already blocked); None when it is unknown."""

    async def audit(self, entry: AuditEntry) -> None:
        """Append one line to the audit log."""

    async def audit_log(self, limit: int = 1000) -> list[AuditEntry]:
        """The last ``limit`` lines of the audit log, oldest first."""

    async def audit_entries(self, action: str) -> list[AuditEntry]:
        """Every audit line of ``action``, oldest first."""
