"""What a client takes from its host besides a ticket: a newer revocation list and catalog.

Rules (docs/protocol.md, "Revocation lists and catalogs"):

- a list is kept only if it verifies against the pinned publisher key, is for the client's
  application, and has a higher serial than the one held (an older list never replaces a
  newer one); it is kept in the sealed state, so that removing it is tampering;
- a catalog is kept only if it verifies against the pinned publisher key, is for the same
  application, and has a higher serial (``Trust.check_newer_than``);
- anything else a host sends is ignored (logged): a host cannot make a client forget a
  revocation or take another publisher's catalog.

A ticket whose certificate the held list revokes is refused at renewal
(``revocation_of``), and the attempt goes on with the next host.
"""

from __future__ import annotations

import logging

import msgspec

from openkms.client.state import ClientState
from openkms.core.certificate import HostCertificate
from openkms.core.revocation import RevocationEntry, RevocationList
from openkms.core.trust import Trust
from openkms.errors import OpenKMSError
from openkms.protocol.messages import ActivationResponse

__all__ = ["held_revocations", "revocation_of", "take_updates"]

log = logging.getLogger("openkms.client")


def held_revocations(state: ClientState, trust: Trust) -> RevocationList | None:
    """The list the client holds, verified against its pinned trust (None if none)."""
    if state.revocations is None:
        return None
    try:
        return RevocationList.decode(
            state.revocations, trust.publisher_key, trust.catalog.application_id
        )
    except OpenKMSError as exc:  # sealed, so only a key change gets here: drop nothing
        log.warning("the held revocation list does not verify: %s", exc.message)
        return None


def revocation_of(
    state: ClientState, trust: Trust, certificate: HostCertificate
) -> RevocationEntry | None:
    """The held list's entry that revokes ``certificate``, if any."""
    revocations = held_revocations(state, trust)
    return revocations.revocation_of(certificate) if revocations is not None else None


def take_updates(state: ClientState, trust: Trust, response: ActivationResponse) -> Trust | None:
    """Keep the response's list in ``state`` if newer; the response's catalog as a new
    Trust if newer (None: nothing new). Never raises on what a host sent."""
    if response.revocations is not None:
        _take_list(state, trust, response.revocations)
    if response.catalog is None:
        return None
    try:
        # A chain of root key transitions comes along after a rotation: the rule of
        # Trust.check_newer_than follows it from the pinned key, as for 'ipk --trust'.
        offered = Trust.from_catalog_update(response.catalog, trust)
        if offered.catalog.application_id != trust.catalog.application_id:
            log.warning("a host sent the catalog of another application: ignored")
            return None
        return offered if offered.check_newer_than(trust) else None
    except (OpenKMSError, msgspec.DecodeError, ValueError, TypeError) as exc:
        log.warning("a host sent a catalog that is not taken: %s", exc)
        return None


def _take_list(state: ClientState, trust: Trust, data: bytes) -> None:
    try:
        offered = RevocationList.decode(data, trust.publisher_key, trust.catalog.application_id)
        if offered.check_newer_than(held_revocations(state, trust)):
            state.revocations = offered.encoded
            log.info("revocation list %d taken from the host", offered.serial)
    except OpenKMSError as exc:
        log.warning("a host sent a revocation list that is not taken: %s", exc.message)
