"""MAK activation: a client activates with the publisher's service directly, no host, no count.

The client sends its MAK, CMID, machine name and activation ID (``POST
/v1/mak-activations``); the service claims one of the key's activations (the same machine
again uses none) and answers a MAK ticket: a batch-of-one ticket signed by the publisher's
MAK service, whose certificate (role "mak") the root key issued. The ticket is verified
like any other against the pinned publisher, and must be a MAK ticket.

Events 12288/12289 are logged as for a host, the service's URL as the server. A refusal
(0xC004C008 used up, 0xC004C003 blocked, the service down) is an outcome, not an
exception, so that the agent keeps its schedule; the outcome carries the fix.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec

from openkms.client.events import ClientEventLog
from openkms.client.publisher_http import DEFAULT_TIMEOUT, PublisherService
from openkms.client.records import AttemptOutcome, HostAttempt
from openkms.client.timekeeping import raise_trusted_time
from openkms.core.catalog import Catalog, Product
from openkms.core.codes import ResultCode
from openkms.core.events import client_request_event, client_response_event
from openkms.core.keys import KeyKind, ProductKey, mak_product_tag
from openkms.core.publisher_api import (
    MAK_ACTIVATIONS_PATH,
    MAK_REQUEST_FORMAT,
    MAK_RESPONSE_FORMAT,
    MakActivationRequest,
    MakActivationResponse,
)
from openkms.errors import KeyFormatError, OpenKMSError, ProtocolError
from openkms.i18n import N_, _

if TYPE_CHECKING:
    from openkms.client.snapshot import ClientSnapshot

__all__ = ["MAK_CHANNEL", "MakActivation", "installed_mak", "product_for_mak"]

MAK_CHANNEL = "VOLUME_MAK"
_OFFLINE_FIX = N_("activate by phone when the publisher offers it")


def installed_mak(setup_key: str | None) -> ProductKey | None:
    """The installed key when it is a MAK, else None (also for a mangled key)."""
    try:
        key = ProductKey.parse(setup_key or "")
    except KeyFormatError:
        return None
    return key if key.kind is KeyKind.MAK else None


def product_for_mak(catalog: Catalog, key: ProductKey) -> Product:
    """The catalog's product a MAK is for (by its product tag); KeyFormatError if none."""
    found = [p for p in catalog.products if mak_product_tag(p.activation_id) == key.product_tag]
    if len(found) != 1:
        raise KeyFormatError(
            _("This MAK is not for a product of the publisher's catalog.")
            if not found
            else _("This MAK's product tag matches several products of the catalog."),
            fix=_(
                "Install the MAK the publisher issued for this product, with the publisher's "
                "current trust.json."
            ),
        )
    return found[0]


class MakActivation:
    """One MAK activation attempt with the publisher's service (blocking: run in a thread)."""

    def __init__(
        self,
        snapshot: ClientSnapshot,
        *,
        clock: Callable[[], float],
        machine_name: str,
        publisher_url: str | None,
        events: ClientEventLog,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.snapshot = snapshot
        self.state = snapshot.state
        self.trust = snapshot.require_trust()
        product = snapshot.product
        key = installed_mak(self.state.setup_key)
        if product is None or key is None:
            raise KeyFormatError(code=ResultCode.NO_PRODUCT_KEY)
        self.product, self.key = product, key
        self.clock = clock
        self.machine_name = machine_name
        url = publisher_url or self.trust.catalog.publisher_url
        if not url:
            raise OpenKMSError(
                _("the publisher's catalog names no activation service for MAK activation"),
                code=ResultCode.INVALID_ARGUMENT,
                fix=_("Give the service with --publisher-url URL (the publisher tells it)."),
            )
        self.service = PublisherService(url, timeout, offline_fix=_OFFLINE_FIX)
        self.events = events

    def _now(self) -> int:
        return int(self.clock())

    def run(self) -> AttemptOutcome:
        """Ask the service, verify and keep the ticket; the outcome (never raises on refusal)."""
        before = self.snapshot.license(max(self._now(), self.state.trusted_time))
        self.events.append(
            client_request_event(
                time=self._now(),
                result=ResultCode.OK,
                server=self.service.url,
                cmid=self.state.cmid,
                license_status=int(before.state),
                minutes_to_expiration=before.minutes_remaining,
                activation_id=self.product.activation_id,
                n_policy=self.product.n_policy,
            )
        )
        try:
            result, message, fix = self._exchange(), "Product activated with the publisher.", None
        except OpenKMSError as exc:
            result, message, fix = exc.code, exc.message, exc.fix
        activated = result is ResultCode.OK
        self.events.append(
            client_response_event(time=self._now(), result=result, activated=activated)
        )
        self.state.last_attempt_at = self._now()
        self.state.last_result = int(result)
        # What dli shows next to the code (the service's text: printable, bounded).
        self.state.last_message = "".join(c if c.isprintable() else "?" for c in message[:200])
        tried = (HostAttempt(self.service.url, "publisher", result, message),)
        return AttemptOutcome(result, message, None, self.service.url, tried, fix=fix)

    def _exchange(self) -> ResultCode:
        request = MakActivationRequest(
            MAK_REQUEST_FORMAT,
            str(self.key),
            self.state.cmid,
            self.machine_name,
            self.product.activation_id,
        )
        reply = self.service.post(MAK_ACTIVATIONS_PATH, msgspec.json.encode(request))
        try:
            answer = msgspec.json.decode(reply.body, type=MakActivationResponse)
        except (msgspec.DecodeError, UnicodeDecodeError):
            raise ProtocolError(_("the publisher's answer is not a MAK activation")) from None
        if answer.format != MAK_RESPONSE_FORMAT:
            raise ProtocolError(_("the publisher's answer is not a MAK activation"))
        return self._accept(answer.ticket)

    def _accept(self, ticket: bytes) -> ResultCode:
        state = self.state
        trusted = max(self._now(), state.trusted_time)
        verified = self.snapshot.verify(ticket, trusted)
        if (
            verified is None
            or not verified.mak
            or verified.body.cmid != uuid.UUID(state.cmid).bytes
        ):
            raise OpenKMSError(
                _("The publisher's MAK ticket does not verify against the pinned publisher key."),
                code=ResultCode.TICKET_INVALID,
            )
        state.ticket = ticket
        state.tampered = False
        state.last_count = 0
        state.last_host_id = None
        raise_trusted_time(state, verified.body.issued_at)
        return ResultCode.OK
