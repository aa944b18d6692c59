"""Clients as the API, the dashboard and the exports show them: the state the host derives
(``core.derived_state``) next to the status the client reported, times with their zone."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from openkms.admin.metrics import status_label
from openkms.core.catalog import Catalog
from openkms.core.derived_state import DerivedStatus, StateTimers, derive_state
from openkms.core.host import HostSnapshot
from openkms.core.license import LicenseState
from openkms.event_export import iso_time
from openkms.store.base import ClientRecord

__all__ = ["ClientList", "ClientView", "ClientViews", "reported_label"]


class ClientView(msgspec.Struct):
    """A client as the API shows it: the store's record with names for people.

    ``state`` is what the client is in now, derived by the host from the answers it gave
    (``state_until``: when that state ends as far as the host knows); ``license_status``
    is what the client reported with its last request.
    """

    cmid: str
    application_id: str
    activation_id: str
    product: str
    machine_name: str
    first_seen: int
    last_seen: int
    license_status: int
    license_status_name: str
    license_status_label: str
    n_policy: int
    requests: int
    state: str
    state_label: str
    state_until: int | None
    last_activated: int | None


class ClientList(msgspec.Struct):
    """One page of clients; ``now`` is the host's time the states were derived at.

    ``next`` is the cursor of the following page (pass it as ``after``), None on the last.
    """

    total: int
    offset: int
    limit: int
    clients: list[ClientView]
    now: int = 0
    next: str | None = None


def reported_label(status: int) -> str:
    """The words for a reported license status (``Initial grace period``), or ``invalid``."""
    try:
        return LicenseState(status).label
    except ValueError:
        return status_label(status)


@dataclass(frozen=True, slots=True)
class ClientViews:
    """What turns store records into views: product names, the timers, the host's time."""

    names: dict[str, str]
    timers: StateTimers
    now: int

    @classmethod
    def of(cls, snapshot: HostSnapshot, now: int) -> ClientViews:
        """From the host's files read once: its catalog and its renewal interval."""
        trust = snapshot.trust
        return cls(
            _product_names(trust.catalog if trust is not None else None),
            StateTimers(renewal_interval=snapshot.settings.renewal_interval),
            now,
        )

    def product(self, activation_id: str) -> str:
        """The product's name, or its activation ID when the catalog does not name it."""
        return self.names.get(activation_id, activation_id)

    def derived(self, client: ClientRecord) -> DerivedStatus:
        """The state ``client`` is in now."""
        return derive_state(
            last_seen=client.last_seen,
            last_activated=client.last_activated,
            reported_status=client.license_status,
            now=self.now,
            timers=self.timers,
        )

    def view(self, client: ClientRecord) -> ClientView:
        """The API's view of ``client``."""
        derived = self.derived(client)
        return ClientView(
            client.cmid,
            client.application_id,
            client.activation_id,
            self.product(client.activation_id),
            client.machine_name,
            client.first_seen,
            client.last_seen,
            client.license_status,
            status_label(client.license_status),
            reported_label(client.license_status),
            client.n_policy,
            client.requests,
            derived.state.value,
            derived.state.label,
            derived.until,
            client.last_activated,
        )

    def row(self, client: ClientRecord) -> list[object]:
        """The export's row of ``client`` (``exports.CLIENT_COLUMNS``), times in UTC."""
        derived = self.derived(client)
        return [
            client.cmid,
            client.application_id,
            client.activation_id,
            self.product(client.activation_id),
            client.machine_name,
            derived.state.label,
            iso_time(derived.until) if derived.until is not None else "",
            reported_label(client.license_status),
            client.license_status,
            iso_time(client.first_seen),
            iso_time(client.last_seen),
            iso_time(client.last_activated) if client.last_activated is not None else "",
            client.n_policy,
            client.requests,
        ]


def _product_names(catalog: Catalog | None) -> dict[str, str]:
    return {p.activation_id: p.name for p in catalog.products} if catalog else {}
