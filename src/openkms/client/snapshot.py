"""``client.json`` and ``trust.json`` read once: what one client operation works on.

Every public operation of :class:`~openkms.client.api.Client` loads one snapshot and passes
it down, so an operation reads the state file once and verifies the trust document once.

The snapshot also decides whether the store may license at all: a trust document of another
publisher than the pinned one (the application's ``publisher_key``, else the one the store
was pinned to at its first ``ipk``) and a state that does not match its seal never license;
the license is then Notification with the reason (0xE0040021, 0xC004D301).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from openkms.client.phone import mak_reference, verify_phone_ticket
from openkms.client.records import License
from openkms.client.state import ClientState, load_state, load_trust
from openkms.core.catalog import Product
from openkms.core.codes import ResultCode
from openkms.core.license import LicenseState, evaluate
from openkms.core.ticket import VerifiedTicket, verify_ticket
from openkms.core.trust import Trust, parse_publisher_key
from openkms.errors import OpenKMSError, SignatureError, StateError

__all__ = ["ClientSnapshot", "pinned_key"]


def pinned_key(state: ClientState, application_key: bytes | None) -> bytes | None:
    """The publisher key this store must be signed by: the application's, else the store's."""
    if application_key is not None:
        return application_key
    if state.publisher_key is None:
        return None
    try:
        return parse_publisher_key(state.publisher_key)
    except OpenKMSError:
        return b""  # a mangled pin matches no key (and the seal says the state was edited)


def _chains_to_pins(trust: Trust, state: ClientState, application_key: bytes | None) -> bool:
    """True when ``trust`` chains to the pin (root key rotation: the chain starts there).

    With an application pin, the store's own pin (the newest key it accepted) must be in
    the chain too, so a trust.json put back from before a rotation does not license.
    """
    expected = pinned_key(state, application_key)
    if expected is not None and not trust.descends_from(expected):
        return False
    if application_key is None or state.publisher_key is None:
        return True
    try:
        return trust.descends_from(parse_publisher_key(state.publisher_key))
    except OpenKMSError:
        return True  # a mangled store pin: the seal reports the edited state


@dataclass(frozen=True, slots=True)
class ClientSnapshot:
    """The client's state (changed in place by an operation, then saved) and its trust.

    ``trust`` is only ever a trust of the pinned publisher; ``foreign`` is a trust document
    found in the store but signed by another key (kept to say which).
    """

    state: ClientState
    trust: Trust | None
    foreign: Trust | None = None
    application_key: bytes | None = None

    @classmethod
    def load(cls, directory: Path, application_key: bytes | None = None) -> ClientSnapshot:
        """Read ``client.json`` and verify ``trust.json`` of ``directory``, once each."""
        state = load_state(directory)
        return cls.of(state, load_trust(directory), application_key)

    @classmethod
    def of(
        cls, state: ClientState, trust: Trust | None, application_key: bytes | None
    ) -> ClientSnapshot:
        """A snapshot of ``state`` and ``trust``, the trust kept only if the pin allows it."""
        if trust is not None and not _chains_to_pins(trust, state, application_key):
            return cls(state, None, trust, application_key)
        if trust is not None and state.publisher_key is None:
            # A store pinned before the pin was recorded: it adopts its trust (saved later).
            state.publisher_key = trust.publisher_key_text
        return cls(state, trust, None, application_key)

    @property
    def distrust(self) -> ResultCode | None:
        """Why this store must not license now (publisher mismatch, tampered state)."""
        if self.foreign is not None:
            return ResultCode.PUBLISHER_MISMATCH
        if self.state.tampered:
            return ResultCode.STATE_TAMPERED
        return None

    def require_trust(self) -> Trust:
        """The pinned trust; StateError (0xE0040007) when none, SignatureError when foreign."""
        if self.foreign is not None:
            expected = pinned_key(self.state, self.application_key)
            assert expected is not None
            by = "the application" if self.application_key is not None else "this store"
            self.foreign.require_publisher(expected, by)
        if self.trust is None:
            raise StateError(code=ResultCode.TRUST_MISSING)
        return self.trust

    @property
    def product(self) -> Product | None:
        """The installed product edition, as the pinned catalog names it."""
        if self.state.activation_id is None or self.trust is None:
            return None
        return self.trust.catalog.product(self.state.activation_id)

    def license(self, now: int) -> License:
        """The license at ``now`` (the trusted time), with the stored ticket verified offline."""
        product = self.product
        reason = self.distrust
        if reason is not None and (product is not None or self.foreign is not None):
            return License(LicenseState.NOTIFICATION, None, 0, reason, product, None)
        verified = self.verify(self.state.ticket, now)
        if verified is not None and verified.mak != (mak_reference(self.state) is not None):
            verified = None  # a MAK ticket licenses a MAK, a KMS host's ticket a setup key
        phone = verify_phone_ticket(self.state, self.trust)
        ends = [verified.body.valid_until] if verified else []
        if phone is not None:  # a MAK activated by phone: licensed until its grant ends
            ends.append(phone.valid_until)
        valid_until = max(ends, default=None)
        status = evaluate(
            key_installed=product is not None,
            grace_started_at=self.state.grace_started_at,
            valid_until=valid_until,
            now=now,
        )
        return License(
            status.state,
            status.ends_at,
            status.minutes_remaining(now),
            status.reason,
            product,
            verified,
        )

    def verify(self, ticket: bytes | None, now: int) -> VerifiedTicket | None:
        """``ticket`` verified for this machine and product (None if it does not verify)."""
        state = self.state
        if ticket is None or self.trust is None or state.activation_id is None:
            return None
        try:
            return verify_ticket(
                ticket,
                self.trust,
                cmid=uuid.UUID(state.cmid).bytes,
                activation_id=state.activation_id,
                now=now,
            )
        except SignatureError:
            return None
