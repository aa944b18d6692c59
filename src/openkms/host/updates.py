"""What a host passes on to its clients: the publisher's revocation list and signed catalog.

A client names the serials it holds in its ActivationRequest; the host's response carries
its list and its catalog only when they are newer (a client that names none, an older
client, gets neither). The bytes are encoded once, when the host's activation is set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from openkms.core.host import HostActivation
from openkms.protocol.messages import MAX_CATALOG_BYTES, ActivationRequest

__all__ = ["Updates"]

log = logging.getLogger("openkms.host")


@dataclass(frozen=True, slots=True)
class Updates:
    """The host's encoded revocation list and catalog, with their serials (0: none)."""

    revocations: bytes | None = None
    revocations_serial: int = 0
    catalog: bytes | None = None
    catalog_serial: int = 0

    @classmethod
    def of(cls, activation: HostActivation) -> Updates:
        """The updates of a host's activation (its trust and installed list)."""
        revocations = activation.revocations
        catalog: bytes | None = None
        serial = 0
        if activation.trust is not None:
            serial = activation.trust.catalog.serial
            catalog = activation.trust.catalog_update()
            if len(catalog) > MAX_CATALOG_BYTES:
                log.warning(
                    "the catalog takes %d bytes, over the %d a response carries: clients "
                    "must take it as a file",
                    len(catalog),
                    MAX_CATALOG_BYTES,
                )
                catalog = None
        return cls(
            revocations.encoded if revocations is not None else None,
            revocations.serial if revocations is not None else 0,
            catalog,
            serial,
        )

    def for_request(self, request: ActivationRequest) -> tuple[bytes | None, bytes | None]:
        """The list and catalog to send in answer to ``request``: those newer than its own."""
        held_list, held_catalog = request.revocations_serial, request.catalog_serial
        revocations = (
            self.revocations
            if held_list is not None and self.revocations_serial > held_list
            else None
        )
        catalog = (
            self.catalog
            if held_catalog is not None and self.catalog_serial > held_catalog
            else None
        )
        return revocations, catalog
