"""HostService: one request in, one response out, by the KMS rules. No sockets here.

``HostService.answer(message, port, deliver)`` is the one entry, for the TCP listener and for
``handle()`` (the in-memory transport) alike: ``deliver`` is called exactly once with the
response. An activation is judged and its record queued for the store at once; the store's
future calls back when the record is durable, and a ticket, when one is earned, is signed
with the others of its batch before the response is delivered. No coroutine or task runs
per activation (the host's fast path); a probe, which awaits a count, runs in a task.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from openkms import __version__
from openkms.core import settings
from openkms.core.catalog import Product
from openkms.core.codes import ResultCode
from openkms.core.events import activation_request_event
from openkms.core.signing import SigningKey
from openkms.core.ticket import TicketBody, TicketSigner
from openkms.errors import StoreError
from openkms.host.state import HostActivation, HostSettings
from openkms.host.tickets import TicketBatcher
from openkms.host.updates import Updates
from openkms.protocol.connection import InvalidRequestError
from openkms.protocol.messages import (
    MAX_CLIENT_TIME,
    MAX_ID_LENGTH,
    MAX_MACHINE_NAME,
    MAX_N_POLICY,
    MAX_SERIAL,
    ActivationRequest,
    ActivationResponse,
    ErrorResponse,
    Message,
    ProbeRequest,
    ProbeResponse,
)
from openkms.store.base import HostStore, RequestRecord

__all__ = ["INVALID_STATUS", "Deliver", "HostService", "RequestObserver"]

log = logging.getLogger("openkms.host")

# Called exactly once with the response to one message.
Deliver = Callable[[Message], None]
# The metrics hook (the admin server): (result, license status, seconds, store seconds).
RequestObserver = Callable[[int, int, float, float], None]

_MAX_SKEW = settings.MAX_CLOCK_SKEW_HOURS * 3600
_DAY = 86400
# The license status a request is counted under when the one it sent is not a status: the
# counters and metrics only ever hold LicenseState values and this one ("invalid").
INVALID_STATUS = -1
_STATUSES = range(7)
_MINUTES = range(2**32)
_N_POLICIES = range(MAX_N_POLICY + 1)
_CLIENT_TIMES = range(MAX_CLIENT_TIME + 1)
_SERIALS = range(MAX_SERIAL + 1)


@dataclass(slots=True)
class _Signing:
    """What the host needs to sign tickets, present only when it is activated."""

    batcher: TicketBatcher
    expires_at: int
    group: str
    application_id: str | None  # the application of the host's trust (None: no trust)
    covered: frozenset[str]  # the activation IDs of the products the host's group covers


@dataclass(slots=True)
class _Pending:
    """An activation request whose record is on its way to durable storage."""

    request: ActivationRequest
    product: Product | None  # set only when the request was counted
    result: ResultCode
    now: int
    port: int
    deliver: Deliver
    started: float  # perf_counter() at arrival, when metrics are observed (else 0)
    problem: str | None = None  # set for an invalid request: answered with an ErrorResponse
    count: int = 0  # the application's count once the record is durable
    stored: float = 0.0  # seconds until the record was durable (metrics only)


class HostService:
    """Judges activation requests, records them durably, and answers."""

    def __init__(
        self,
        *,
        store: HostStore,
        activation: HostActivation,
        private_key: SigningKey | None,
        host_settings: HostSettings,
        host_id: str,
        clock: Callable[[], float],
        validity_days: int = settings.ACTIVATION_VALIDITY_DAYS,
        on_request: RequestObserver | None = None,
    ) -> None:
        self._store = store
        self.settings = host_settings
        self.host_id = host_id
        self._clock = clock
        self._validity = validity_days * _DAY
        self._activation = activation
        self._signing: _Signing | None = None
        self._products: dict[str, Product] = {}
        self._updates = Updates()
        self.on_request = on_request
        self.set_activation(activation, private_key)

    def set_activation(self, activation: HostActivation, private_key: SigningKey | None) -> None:
        """Install (or remove) the certificate the host signs with."""
        self._activation = activation
        self._signing = None
        self._products = {}
        self._updates = Updates.of(activation)
        if activation.trust is not None:
            self._products = {p.activation_id: p for p in activation.trust.catalog.products}
        cert, envelope = activation.certificate, activation.envelope
        if activation.activated and cert and envelope and private_key is not None:
            self._signing = _Signing(
                TicketBatcher(TicketSigner(private_key, envelope)),
                cert.expires_at,
                cert.group,
                *_covered(activation, cert.group),
            )

    @property
    def activation(self) -> HostActivation:
        """The activation the host serves under (certificate, trust, revocation list)."""
        return self._activation

    @property
    def application_id(self) -> str | None:
        """The application this host serves (from its trust), if known."""
        trust = self._activation.trust
        return trust.catalog.application_id if trust is not None else None

    # -- the one entry -------------------------------------------------------------------

    def answer(
        self, message: Message, port: int, deliver: Deliver, *, decoded: bool = False
    ) -> None:
        """Answer ``message``, received on a listener bound to ``port``, through ``deliver``.

        ``deliver`` is called exactly once: at once for a message that is not a request or
        a record the store refuses, otherwise once the record is durable (and the ticket,
        if one is earned, signed). Failures are delivered as an ErrorResponse. ``decoded``:
        the message comes from the protocol's decoder, which has checked its values against
        the protocol's limits already (otherwise they are checked here).
        """
        if isinstance(message, ActivationRequest):
            self._activate(message, port, deliver, None, decoded)
        elif isinstance(message, ProbeRequest):
            probe = asyncio.ensure_future(self._probe(message, port))
            probe.add_done_callback(functools.partial(self._probed, message, deliver))
        else:
            error = f"{type(message).__name__} is not a request"
            deliver(ErrorResponse(b"", ResultCode.PROTOCOL_ERROR, error))

    def answer_invalid(self, error: InvalidRequestError, port: int, deliver: Deliver) -> None:
        """Answer a request whose values break the protocol's limits (``error.request``).

        An activation request is recorded as the failed request it is (event 12290, the
        counters; its values bounded first), then answered with one ErrorResponse carrying
        0xE0040009; a probe is answered at once.
        """
        request = error.request
        if isinstance(request, ActivationRequest):
            self._activate(request, port, deliver, error.message, False)
        else:
            request_id = request.request_id if len(request.request_id) == 16 else b""
            deliver(ErrorResponse(request_id, error.code, error.message))

    async def handle(self, message: Message, port: int) -> Message:
        """The response to one message: ``answer()`` for a caller that awaits."""
        answered: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self.answer(message, port, answered.set_result)
        return await answered

    # -- activation ----------------------------------------------------------------------

    def _activate(
        self,
        request: ActivationRequest,
        port: int,
        deliver: Deliver,
        problem: str | None,
        decoded: bool,
    ) -> None:
        """Judge ``request`` and queue its record; the store's future answers."""
        started = time.perf_counter() if self.on_request is not None else 0.0
        try:
            now = int(self._clock())
            product = self._products.get(request.activation_id)
            if problem is not None or (not decoded and _out_of_range(request)):
                result = ResultCode.REQUEST_INVALID
            else:
                result = self._judge(request, product, now)
            written = self._store.submit_record(self._record(request, product, result, now))
        except Exception as exc:  # the store refused the write (e.g. it is closed)
            deliver(_failure(request.request_id, exc))
            return
        counted_product = product if result is ResultCode.OK else None
        pending = _Pending(request, counted_product, result, now, port, deliver, started, problem)
        written.add_done_callback(functools.partial(self._written, pending))

    def _judge(self, request: ActivationRequest, product: Product | None, now: int) -> ResultCode:
        if self._activation.revoked is not None:  # the publisher revoked this host
            return ResultCode.KEY_BLOCKED
        signing = self._signing
        if signing is None or now >= signing.expires_at:
            return ResultCode.HOST_NOT_ACTIVATED
        if abs(request.client_time - now) > _MAX_SKEW:
            return ResultCode.CLOCK_SKEW
        if (
            product is None
            or request.application_id != signing.application_id
            or product.activation_id not in signing.covered
        ):
            return ResultCode.PRODUCT_NOT_COVERED
        return ResultCode.OK

    def _record(
        self, request: ActivationRequest, product: Product | None, result: ResultCode, now: int
    ) -> RequestRecord:
        """What the store keeps of ``request``: its client row (if counted) and its 12290.

        The values of an invalid request are bounded first: nothing a client sends can
        overflow a column or grow a counter row outside the license statuses.
        """
        if result is ResultCode.REQUEST_INVALID:
            request = _bounded(request)
        cmid = _cmid_text(request.cmid)
        event = activation_request_event(
            now,
            result=result,
            n_policy=request.n_policy,
            machine_name=request.machine_name,
            cmid=cmid,
            client_time=request.client_time,
            vm=request.vm,
            license_status=request.license_status,
            minutes_to_expiration=request.minutes_to_expiration,
            activation_id=request.activation_id,
        )
        return RequestRecord(
            time=now,
            host_id=self.host_id,
            application_id=request.application_id,
            activation_id=request.activation_id,
            cmid=cmid,
            machine_name=request.machine_name,
            license_status=request.license_status,
            n_policy=product.n_policy if product is not None else request.n_policy,
            result=result,
            event=event,
        )

    def _written(self, pending: _Pending, written: asyncio.Future[int]) -> None:
        """The record is durable (or failed): answer now, or once the ticket is signed."""
        try:
            pending.count = count = written.result()
            if pending.problem is not None:
                request_id = pending.request.request_id
                request_id = request_id if len(request_id) == 16 else b""
                error = ErrorResponse(request_id, ResultCode.REQUEST_INVALID, pending.problem)
                self._observe(pending)
                pending.deliver(error)
                return
            if pending.started:
                pending.stored = time.perf_counter() - pending.started
            signing, product = self._signing, pending.product
            if signing is not None and product is not None and count >= product.n_policy:
                now, request = pending.now, pending.request
                body = TicketBody(
                    request.cmid,
                    request.activation_id,
                    count,
                    product.n_policy,
                    now,
                    now + self._validity,
                )  # what the ticket vouches for
                signing.batcher.add(body, functools.partial(self._signed, pending))
                return
            response = self._response(pending, None)
        except (Exception, asyncio.CancelledError) as exc:
            pending.deliver(_failure(pending.request.request_id, exc))
            return
        if self.on_request is not None:
            self._observe(pending, response.ticket is not None)
        pending.deliver(response)

    def _signed(self, pending: _Pending, ticket: bytes | BaseException) -> None:
        """The ticket batch is signed (or failed): answer."""
        request_id = pending.request.request_id
        if isinstance(ticket, BaseException):  # the batcher has logged it
            error = "the ticket could not be signed"
            pending.deliver(ErrorResponse(request_id, ResultCode.INTERNAL_ERROR, error))
            return
        try:
            response = self._response(pending, ticket)
        except Exception as exc:
            pending.deliver(_failure(request_id, exc))
            return
        if self.on_request is not None:
            self._observe(pending, response.ticket is not None)
        pending.deliver(response)

    def _response(self, pending: _Pending, ticket: bytes | None) -> ActivationResponse:
        request = pending.request
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "request from %s (%s): %s count=%d",
                request.machine_name,
                _cmid_text(request.cmid),
                pending.result.hex,
                pending.count,
            )
        if request.revocations_serial is None and request.catalog_serial is None:
            revocations = catalog = None  # a client that takes neither (the common case)
        else:
            revocations, catalog = self._updates.for_request(request)
        return ActivationResponse(
            request.request_id,
            int(pending.result),
            pending.count,
            self.settings.activation_interval,
            self.settings.renewal_interval,
            pending.port,
            pending.now,
            self.host_id,
            ticket,
            revocations,
            catalog,
        )

    def _observe(self, pending: _Pending, ticketed: bool = False) -> None:
        observe = self.on_request
        if observe is not None and pending.started:  # observed since the request arrived
            elapsed = time.perf_counter() - pending.started
            # An accepted request below the N-policy activates nothing: the client reports
            # 0xC004F038, and so do the metrics.
            result = int(pending.result)
            if result == 0 and not ticketed:
                result = int(ResultCode.COUNT_TOO_LOW)
            try:
                observe(result, pending.request.license_status, elapsed, pending.stored)
            except Exception:  # metrics must never keep a client from its answer
                log.exception("the request metrics hook failed")

    # -- probe ---------------------------------------------------------------------------

    async def _probe(self, request: ProbeRequest, port: int) -> ProbeResponse:
        now = int(self._clock())
        # An empty application ID asks for the count of the application this host serves.
        application_id = request.application_id or self.application_id or ""
        count = await self._store.current_count(application_id, now)
        return ProbeResponse(
            request.request_id,
            __version__,
            self._signing is not None and now < self._signing.expires_at,
            count,
            port,
            now,
            self.host_id,
        )

    @staticmethod
    def _probed(
        request: ProbeRequest, deliver: Deliver, probe: asyncio.Future[ProbeResponse]
    ) -> None:
        try:
            response: Message = probe.result()
        except (Exception, asyncio.CancelledError) as exc:
            response = _failure(request.request_id, exc)
        deliver(response)


def _covered(activation: HostActivation, group: str) -> tuple[str | None, frozenset[str]]:
    """The application a host of ``group`` serves and the activation IDs it may activate,
    decided once per certificate instead of per request."""
    if activation.trust is None:
        return None, frozenset()
    catalog = activation.trust.catalog
    return catalog.application_id, frozenset(
        product.activation_id
        for product in catalog.products
        if catalog.covers(group, product.group)
    )


def _failure(request_id: bytes, exc: BaseException) -> ErrorResponse:
    """The answer to a request that could not be processed (the store failed, a bug)."""
    if isinstance(exc, StoreError):  # the detail (with the store's path) stays in the log
        # The store logged it, once per failed batch or once per database outage.
        log.debug("store error: %s", exc)
        return ErrorResponse(request_id, exc.code, exc.code.info.message)
    if isinstance(exc, asyncio.CancelledError):
        return ErrorResponse(request_id, ResultCode.INTERNAL_ERROR, "host stopping")
    log.error("internal error while answering a request", exc_info=exc)
    return ErrorResponse(request_id, ResultCode.INTERNAL_ERROR, "internal error")


def _out_of_range(request: ActivationRequest) -> bool:
    """True when a value breaks the protocol's limits (the decoder checks them already)."""
    return (
        len(request.cmid) != 16
        or len(request.machine_name) > MAX_MACHINE_NAME
        or request.license_status not in _STATUSES
        or request.minutes_to_expiration not in _MINUTES
        or request.n_policy not in _N_POLICIES
        or len(request.activation_id) > MAX_ID_LENGTH
        or len(request.application_id) > MAX_ID_LENGTH
        or request.client_time not in _CLIENT_TIMES
        or (request.revocations_serial is not None and request.revocations_serial not in _SERIALS)
        or (request.catalog_serial is not None and request.catalog_serial not in _SERIALS)
    )


def _bad_serial(serial: int | None) -> bool:
    return serial is not None and serial not in _SERIALS


def _bounded(request: ActivationRequest) -> ActivationRequest:
    """``request`` with every value within what the store and the event log accept."""
    return ActivationRequest(
        request.request_id[:16],
        request.application_id[:MAX_ID_LENGTH],
        request.activation_id[:MAX_ID_LENGTH],
        request.cmid[:32],
        request.machine_name[:MAX_MACHINE_NAME],
        request.client_time if request.client_time in _CLIENT_TIMES else 0,
        request.license_status if request.license_status in _STATUSES else INVALID_STATUS,
        request.minutes_to_expiration if request.minutes_to_expiration in _MINUTES else 0,
        request.n_policy if request.n_policy in _N_POLICIES else 0,
        bool(request.vm),
        None if _bad_serial(request.revocations_serial) else request.revocations_serial,
        None if _bad_serial(request.catalog_serial) else request.catalog_serial,
    )


def _cmid_text(cmid: bytes) -> str:
    text = cmid.hex()
    if len(cmid) == 16:  # the UUID form, as str(uuid.UUID(bytes=cmid)) writes it
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return text
