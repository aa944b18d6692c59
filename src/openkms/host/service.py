"""HostService: one request in, one response out, by the KMS rules. No sockets here."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from openkms import __version__
from openkms.core import settings
from openkms.core.catalog import Product
from openkms.core.codes import ResultCode
from openkms.core.events import EventRecord, format_client_time
from openkms.core.ticket import TicketBody, TicketSigner
from openkms.host.state import HostActivation, HostSettings
from openkms.host.tickets import TicketBatcher
from openkms.protocol.messages import (
    ActivationRequest,
    ActivationResponse,
    ErrorResponse,
    Message,
    ProbeRequest,
    ProbeResponse,
)
from openkms.store.base import HostStore, RequestRecord

__all__ = ["HostService", "PendingActivation"]

log = logging.getLogger("openkms.host")

_MAX_SKEW = settings.MAX_CLOCK_SKEW_HOURS * 3600
_DAY = 86400


@dataclass(slots=True)
class _Signing:
    """What the host needs to sign tickets, present only when it is activated."""

    batcher: TicketBatcher
    expires_at: int
    group: str


class HostService:
    """Judges activation requests, records them durably, and answers."""

    def __init__(
        self,
        *,
        store: HostStore,
        activation: HostActivation,
        private_key: Ed25519PrivateKey | None,
        host_settings: HostSettings,
        host_id: str,
        clock: Callable[[], float],
        validity_days: int = settings.ACTIVATION_VALIDITY_DAYS,
    ) -> None:
        self.store = store
        self.settings = host_settings
        self.host_id = host_id
        self._clock = clock
        self._validity = validity_days * _DAY
        self._activation = activation
        self._signing: _Signing | None = None
        self._products: dict[str, Product] = {}
        # Metrics hook (the admin server): (result, license status, seconds, store seconds).
        self.on_request: Callable[[int, int, float, float], None] | None = None
        self.set_activation(activation, private_key)
        # SqliteStore hands out the commit future directly; other stores go through a task.
        submit = getattr(store, "submit_record", None)
        self._submit: Callable[[RequestRecord], asyncio.Future[int]] = (
            submit if submit is not None else self._record_in_task
        )

    def set_activation(
        self, activation: HostActivation, private_key: Ed25519PrivateKey | None
    ) -> None:
        """Install (or remove) the certificate the host signs with."""
        self._activation = activation
        self._signing = None
        self._products = {}
        if activation.trust is not None:
            self._products = {p.activation_id: p for p in activation.trust.catalog.products}
        cert, envelope = activation.certificate, activation.envelope
        if activation.activated and cert and envelope and private_key is not None:
            self._signing = _Signing(
                TicketBatcher(TicketSigner(private_key, envelope)), cert.expires_at, cert.group
            )

    def _record_in_task(self, record: RequestRecord) -> asyncio.Future[int]:
        return asyncio.ensure_future(self.store.record(record))

    @property
    def application_id(self) -> str | None:
        """The application this host serves (from its trust), if known."""
        trust = self._activation.trust
        return trust.catalog.application_id if trust is not None else None

    async def handle(self, message: Message, port: int) -> Message:
        """The response to one message received on a listener bound to ``port``."""
        if isinstance(message, ActivationRequest):
            pending = self.begin_activation(message, port)
            await pending.written
            answered: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
            pending.respond(answered.set_result)
            return await answered
        if isinstance(message, ProbeRequest):
            return await self._probe(message, port)
        return ErrorResponse(
            b"", ResultCode.PROTOCOL_ERROR, f"{type(message).__name__} is not a request"
        )

    def begin_activation(self, request: ActivationRequest, port: int) -> PendingActivation:
        """Judge ``request`` and queue its record; answer with ``respond()`` once it is written.

        The listener's fast path: no coroutine or task per request, only the store's future.
        """
        now = int(self._clock())
        product = self._products.get(request.activation_id)
        result = self._judge(request, product, now)
        counted = result is ResultCode.OK
        cmid = _cmid_text(request.cmid)
        record = RequestRecord(
            time=now,
            host_id=self.host_id,
            application_id=request.application_id,
            activation_id=request.activation_id,
            cmid=cmid,
            machine_name=request.machine_name,
            license_status=request.license_status,
            n_policy=product.n_policy if product is not None else request.n_policy,
            counted=counted,
            failed=not counted,
            event=EventRecord(12290, now, _info_12290(request, result, cmid)),
        )
        written = self._submit(record)
        return PendingActivation(
            self, request, product if counted else None, result, now, port, written
        )

    async def _probe(self, request: ProbeRequest, port: int) -> ProbeResponse:
        now = int(self._clock())
        # An empty application ID asks for the count of the application this host serves.
        application_id = request.application_id or self.application_id or ""
        count = await self.store.current_count(application_id, now)
        return ProbeResponse(
            request.request_id,
            __version__,
            self._signing is not None and now < self._signing.expires_at,
            count,
            port,
            now,
            self.host_id,
        )

    def _judge(self, request: ActivationRequest, product: Product | None, now: int) -> ResultCode:
        if len(request.cmid) != 16 or len(request.machine_name) > 255:
            return ResultCode.REQUEST_INVALID
        if self._signing is None or now >= self._signing.expires_at:
            return ResultCode.HOST_NOT_ACTIVATED
        if abs(request.client_time - now) > _MAX_SKEW:
            return ResultCode.CLOCK_SKEW
        trust = self._activation.trust
        if (
            product is None
            or trust is None
            or request.application_id != trust.catalog.application_id
            or not trust.catalog.covers(self._signing.group, product.group)
        ):
            return ResultCode.PRODUCT_NOT_COVERED
        return ResultCode.OK

    def _ticket_body(self, pending: PendingActivation, count: int) -> TicketBody | None:
        """What the ticket vouches for, when the request earns one (count >= N)."""
        product, now = pending.product, pending.now
        if product is None or count < product.n_policy:
            return None
        request = pending.request
        return TicketBody(
            request.cmid, request.activation_id, count, product.n_policy, now, now + self._validity
        )

    def _response(
        self, pending: PendingActivation, count: int, ticket: bytes | None
    ) -> ActivationResponse:
        request = pending.request
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "request from %s (%s): %s count=%d",
                request.machine_name,
                _cmid_text(request.cmid),
                pending.result.hex,
                count,
            )
        return ActivationResponse(
            request.request_id,
            int(pending.result),
            count,
            self.settings.activation_interval,
            self.settings.renewal_interval,
            pending.port,
            pending.now,
            self.host_id,
            ticket,
        )


@dataclass(slots=True)
class PendingActivation:
    """An activation request whose record is on its way to durable storage."""

    service: HostService
    request: ActivationRequest
    product: Product | None  # set only when the request was counted
    result: ResultCode
    now: int
    port: int
    written: asyncio.Future[int]  # the count after the record, once it is durable
    started: float = field(default_factory=time.perf_counter)

    def respond(self, deliver: Callable[[Message], None]) -> None:
        """Build the response once ``written`` is done and hand it to ``deliver``.

        A response without a ticket is delivered at once; one with a ticket when its batch
        is signed, later in the same event-loop iteration. Raises the store's error (before
        ``deliver`` is called) if the record failed.
        """
        count = self.written.result()
        service = self.service
        # Seconds until the record was durable (metrics only).
        stored = time.perf_counter() - self.started if service.on_request is not None else 0.0
        signing = service._signing
        body = service._ticket_body(self, count) if signing is not None else None
        if body is None or signing is None:
            self._deliver(deliver, service._response(self, count, None), stored)
            return

        def signed(ticket: bytes | BaseException) -> None:
            if isinstance(ticket, BaseException):
                error = "the ticket could not be signed"
                deliver(ErrorResponse(self.request.request_id, ResultCode.INTERNAL_ERROR, error))
                return
            self._deliver(deliver, service._response(self, count, ticket), stored)

        signing.batcher.add(body, signed)

    def _deliver(
        self, deliver: Callable[[Message], None], response: ActivationResponse, stored: float
    ) -> None:
        on_request = self.service.on_request
        if on_request is not None:
            elapsed = time.perf_counter() - self.started
            # An accepted request below the N-policy activates nothing: the client reports
            # 0xC004F038, and so do the metrics.
            result = int(self.result)
            if result == 0 and response.ticket is None:
                result = int(ResultCode.COUNT_TOO_LOW)
            on_request(result, self.request.license_status, elapsed, stored)
        deliver(response)


def _cmid_text(cmid: bytes) -> str:
    text = cmid.hex()
    if len(cmid) == 16:  # the UUID form, as str(uuid.UUID(bytes=cmid)) writes it
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return text


def _info_12290(request: ActivationRequest, result: ResultCode, cmid: str) -> str:
    """The Info string of a 12290 event (the fields of EVENT_FIELDS[12290], in order)."""
    client_time = request.client_time
    values = (
        f"0x{int(result):X}" if result else "0x0",
        f"0x{request.n_policy:X}",
        request.machine_name.replace(",", " "),
        cmid,
        _client_time_text(client_time - client_time % 60) if 0 < client_time < 2**40 else "0",
        str(int(request.vm)),
        str(request.license_status),
        str(request.minutes_to_expiration),
        request.activation_id.replace(",", " "),
    )
    return ",".join(values)


@functools.lru_cache(maxsize=4096)
def _client_time_text(minute: int) -> str:
    """format_client_time, cached: clients' clocks mostly fall in the same few minutes."""
    return format_client_time(minute)
