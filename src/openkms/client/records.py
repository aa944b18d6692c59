"""What the client library returns: the license, and the outcome of an activation attempt."""

from __future__ import annotations

from dataclasses import dataclass

from openkms.core.catalog import Product
from openkms.core.codes import ResultCode
from openkms.core.license import LicenseState
from openkms.core.ticket import VerifiedTicket

__all__ = ["AttemptOutcome", "HostAttempt", "License"]


@dataclass(frozen=True, slots=True)
class License:
    """The license as the application should see it, verified offline."""

    state: LicenseState
    ends_at: int | None
    minutes_remaining: int
    reason: ResultCode
    product: Product | None
    ticket: VerifiedTicket | None

    @property
    def licensed(self) -> bool:
        """True when the product may run fully licensed."""
        return self.state is LicenseState.LICENSED


@dataclass(frozen=True, slots=True)
class HostAttempt:
    """One host tried during an attempt and what happened."""

    address: str
    source: str
    result: ResultCode
    detail: str


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """The result of one activation attempt."""

    result: ResultCode
    message: str
    count: int | None = None
    host: str | None = None
    tried: tuple[HostAttempt, ...] = ()
    license: License | None = None
    fix: str | None = None  # what to do, when the attempt knows better than its code

    @property
    def activated(self) -> bool:
        """True when this attempt (re)activated the machine."""
        return self.result is ResultCode.OK
