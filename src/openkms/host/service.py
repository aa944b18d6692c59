"""HostService: one request in, one response out, by the KMS rules. No sockets here."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from openkms import __version__
from openkms.core import settings
from openkms.core.catalog import Product
from openkms.core.codes import ResultCode
from openkms.core.events import format_client_time, make_event
from openkms.core.ticket import TicketBody, TicketSigner
from openkms.host.state import HostActivation, HostSettings
from openkms.protocol.messages import (
    ActivationRequest,
    ActivationResponse,
    ErrorResponse,
    Message,
    ProbeRequest,
    ProbeResponse,
)
from openkms.store.base import HostStore, RequestRecord

__all__ = ["HostService"]

log = logging.getLogger("openkms.host")

_MAX_SKEW = settings.MAX_CLOCK_SKEW_HOURS * 3600
_DAY = 86400


@dataclass(slots=True)
class _Signing:
    """What the host needs to sign tickets, present only when it is activated."""

    signer: TicketSigner
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
                TicketSigner(private_key, envelope), cert.expires_at, cert.group
            )

    @property
    def application_id(self) -> str | None:
        """The application this host serves (from its trust), if known."""
        trust = self._activation.trust
        return trust.catalog.application_id if trust is not None else None

    async def handle(self, message: Message, port: int) -> Message:
        """The response to one message received on a listener bound to ``port``."""
        if isinstance(message, ActivationRequest):
            return await self._activate(message, port)
        if isinstance(message, ProbeRequest):
            return await self._probe(message, port)
        return ErrorResponse(
            b"", ResultCode.PROTOCOL_ERROR, f"{type(message).__name__} is not a request"
        )

    async def _probe(self, request: ProbeRequest, port: int) -> ProbeResponse:
        now = int(self._clock())
        count = await self.store.current_count(request.application_id, now)
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

    async def _activate(self, request: ActivationRequest, port: int) -> ActivationResponse:
        started = time.perf_counter()
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
            event=make_event(12290, now, _info_12290(request, result, cmid)),
        )
        count = await self.store.record(record)
        written = time.perf_counter()
        ticket = None
        if counted and product is not None and count >= product.n_policy and self._signing:
            body = TicketBody(
                request.cmid,
                request.activation_id,
                count,
                product.n_policy,
                now,
                now + self._validity,
            )
            ticket = self._signing.signer.issue(body)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "request from %s (%s): %s count=%d", request.machine_name, cmid, result.hex, count
            )
        if self.on_request is not None:
            elapsed = time.perf_counter() - started
            self.on_request(int(result), request.license_status, elapsed, written - started)
        return ActivationResponse(
            request.request_id,
            int(result),
            count,
            self.settings.activation_interval,
            self.settings.renewal_interval,
            port,
            now,
            self.host_id,
            ticket,
        )


def _cmid_text(cmid: bytes) -> str:
    if len(cmid) == 16:
        return str(uuid.UUID(bytes=cmid))
    return cmid.hex()


def _info_12290(request: ActivationRequest, result: ResultCode, cmid: str) -> tuple[object, ...]:
    machine = request.machine_name.replace(",", " ")
    return (
        f"0x{int(result):X}" if result else "0x0",
        f"0x{request.n_policy:X}",
        machine,
        cmid,
        format_client_time(request.client_time) if 0 < request.client_time < 2**40 else "0",
        int(request.vm),
        request.license_status,
        request.minutes_to_expiration,
        request.activation_id.replace(",", " "),
    )
