"""``client.json`` and ``trust.json`` read once: what one client operation works on.

Every public operation of :class:`~openkms.client.api.Client` loads one snapshot and passes
it down, so an operation reads the state file once and verifies the trust document once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from openkms.client.records import License
from openkms.client.state import ClientState, load_state, load_trust
from openkms.core.catalog import Product
from openkms.core.codes import ResultCode
from openkms.core.license import evaluate
from openkms.core.ticket import VerifiedTicket, verify_ticket
from openkms.core.trust import Trust
from openkms.errors import SignatureError, StateError

__all__ = ["ClientSnapshot"]


@dataclass(frozen=True, slots=True)
class ClientSnapshot:
    """The client's state (changed in place by an operation, then saved) and its trust."""

    state: ClientState
    trust: Trust | None

    @classmethod
    def load(cls, directory: Path) -> ClientSnapshot:
        """Read ``client.json`` and verify ``trust.json`` of ``directory``, once each."""
        return cls(load_state(directory), load_trust(directory))

    def require_trust(self) -> Trust:
        """The pinned trust; StateError (0xE0040007) when no trust was ever installed."""
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
        """The license at ``now``, with the stored ticket verified offline."""
        product = self.product
        verified = self.verify(self.state.ticket, now)
        status = evaluate(
            key_installed=product is not None,
            grace_started_at=self.state.grace_started_at,
            valid_until=verified.body.valid_until if verified else None,
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
