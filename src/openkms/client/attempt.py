"""One activation attempt (``ato``) on one snapshot of the client's state and trust.

::

    attempt = ActivationAttempt(ClientSnapshot.load(directory), clock=..., transport=..., ...)
    outcome = await attempt.run()        # discovery, each host in turn, events 12288/12289
    save_state(directory, attempt.state) # the facade saves what the attempt changed

The attempt never reads a file: the state and the verified trust come in with the snapshot,
and the changes (ticket, intervals, cached host, last result) are made to ``state`` in place.

A host's bytes never make an attempt raise: a response that cannot be decoded, or whose
fields are out of range, is a protocol error (0xE0040002) logged as that host's 12289, and
the next host is tried. Licence times are the trusted time (``client/timekeeping.py``),
raised by a verified ticket's issue time and its host's time.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable

from openkms._address import format_address
from openkms.client.discovery import Candidate, Locator, candidates
from openkms.client.events import ClientEventLog
from openkms.client.records import AttemptOutcome, HostAttempt, License
from openkms.client.snapshot import ClientSnapshot
from openkms.client.timekeeping import raise_trusted_time
from openkms.client.transport import Transport
from openkms.client.updates import held_revocations, revocation_of, take_updates
from openkms.core import settings
from openkms.core.codes import ResultCode
from openkms.core.events import client_request_event, client_response_event
from openkms.core.trust import Trust
from openkms.errors import KeyFormatError, OpenKMSError, ProtocolError
from openkms.protocol.messages import (
    ActivationRequest,
    ActivationResponse,
    ErrorResponse,
    Message,
)

__all__ = ["ActivationAttempt"]


class ActivationAttempt:
    """Discovery, then each candidate host in turn until one answers; events logged."""

    def __init__(
        self,
        snapshot: ClientSnapshot,
        *,
        clock: Callable[[], float],
        transport: Transport,
        locator: Locator,
        machine_name: str,
        service: str | None,
        events: ClientEventLog,
    ) -> None:
        self.snapshot = snapshot
        self.state = snapshot.state
        self.trust = snapshot.require_trust()
        product = snapshot.product
        if product is None:
            raise KeyFormatError(code=ResultCode.NO_PRODUCT_KEY)
        self.product = product
        self.clock = clock
        self.transport = transport
        self.locator = locator
        self.machine_name = machine_name
        self.service = service or self.trust.catalog.service
        self.events = events
        self.tried: list[HostAttempt] = []
        self.new_trust: Trust | None = None  # a newer catalog a host passed on (to save)

    def _now(self) -> int:
        return int(self.clock())

    def _trusted(self) -> int:
        return max(self._now(), self.state.trusted_time)

    async def run(self) -> AttemptOutcome:
        """Try the hosts in order; the outcome of the first that answers, else why none did."""
        state = self.state
        hosts, dns_error = await candidates(
            registered=state.registered_host,
            cached=state.cached_host,
            caching=state.host_caching,
            cached_address=state.cached_address,
            locator=self.locator,
            service=self.service,
            domain=state.kms_domain,
        )
        outcome: AttemptOutcome | None = None
        for candidate in hosts:
            outcome = await self._try_host(candidate)
            if outcome is not None:
                break
        state.last_attempt_at = self._now()
        if outcome is None:
            outcome = _no_host(self.tried, dns_error)
        state.last_result = int(outcome.result)
        state.last_message = _printable(outcome.message)
        return AttemptOutcome(
            outcome.result, outcome.message, outcome.count, outcome.host, tuple(self.tried)
        )

    async def _try_host(self, candidate: Candidate) -> AttemptOutcome | None:
        """Ask one host; None means 'try the next one'."""
        before = self.snapshot.license(self._trusted())
        where = format_address(candidate.host, candidate.port)
        request = self._request(before)
        try:
            response, address = await self._exchange(candidate, request)
        except ProtocolError as exc:  # the host answered, with bytes that are no response
            self._log_request(ResultCode.OK, where, before)
            self._log_response(exc.code, None)
            self._tried(candidate, exc.code, exc.message)
            return None
        except OpenKMSError as exc:
            self._log_request(exc.code, where, before)
            self._tried(candidate, exc.code, exc.message)
            return None
        self._log_request(ResultCode.OK, where, before)
        problem = _invalid_response(response, request)
        if problem is None and isinstance(response, ActivationResponse):
            return self._process(response, candidate, address)
        code, detail = ResultCode.PROTOCOL_ERROR, f"{where}: {problem}"
        if problem is None and isinstance(response, ErrorResponse):
            code, detail = ResultCode.from_wire(response.result), _printable(response.message)
        self._log_response(code, None)
        self._tried(candidate, code, detail)
        return None

    def _request(self, before: License) -> ActivationRequest:
        return ActivationRequest(
            secrets.token_bytes(16),
            self.trust.catalog.application_id,
            self.product.activation_id,
            uuid.UUID(self.state.cmid).bytes,
            self.machine_name,
            self._now(),
            int(before.state),
            before.minutes_remaining,
            self.product.n_policy,
            revocations_serial=self._held_list_serial(),
            catalog_serial=self.trust.catalog.serial,
        )

    def _held_list_serial(self) -> int:
        held = held_revocations(self.state, self.trust)
        return held.serial if held is not None else 0

    async def _exchange(
        self, candidate: Candidate, request: ActivationRequest
    ) -> tuple[Message, str]:
        """Reach the host at each of its DNS addresses in turn (else by its name)."""
        error: OpenKMSError | None = None
        for target in candidate.addresses or (candidate.host,):
            try:
                return await self.transport.exchange(target, candidate.port, request)
            except OpenKMSError as exc:
                error = exc
        assert error is not None
        raise error

    def _process(
        self, response: ActivationResponse, candidate: Candidate, address: str
    ) -> AttemptOutcome | None:
        where = format_address(candidate.host, candidate.port)
        code = ResultCode.from_wire(response.result)
        state = self.state
        state.activation_interval = response.activation_interval
        state.renewal_interval = response.renewal_interval
        state.last_count = response.current_count
        self._take_updates(response)
        if code is not ResultCode.OK:
            self._log_response(code, response)
            self._tried(candidate, code, code.info.message)
            return None
        if response.current_count < self.product.n_policy or response.ticket is None:
            result = ResultCode.COUNT_TOO_LOW
        else:
            result = self._accept_ticket(response.ticket, response.host_time)
        self._log_response(result, response, activated=result is ResultCode.OK)
        if result is ResultCode.KEY_BLOCKED:  # a revoked chain: the next host, if any
            detail = f"{where} ({response.host_id}): its certificate is revoked by the publisher"
            self._tried(candidate, result, _printable(detail))
            return None
        message = result.info.message
        if result is ResultCode.COUNT_TOO_LOW:  # say how far the site is from the N-policy
            count, needed = response.current_count, self.product.n_policy
            message = f"{message.rstrip('.')}: count {count} of {needed}."
        self._tried(candidate, result, message)
        self._remember_host(candidate, address, response)
        return AttemptOutcome(result, message, response.current_count, where)

    def _accept_ticket(self, ticket: bytes, host_time: int) -> ResultCode:
        verified = self.snapshot.verify(ticket, self._trusted())
        if verified is None:
            return ResultCode.TICKET_INVALID
        if revocation_of(self.state, self.trust, verified.certificate) is not None:
            return ResultCode.KEY_BLOCKED
        state = self.state
        state.ticket = ticket
        state.tampered = False  # a genuine host vouched for this machine again
        # Verified times raise the trusted time (a certified host's, at most the skew ahead).
        raise_trusted_time(state, verified.body.issued_at)
        raise_trusted_time(state, min(host_time, self._now() + _SKEW))
        return ResultCode.OK

    def _take_updates(self, response: ActivationResponse) -> None:
        """A newer list (kept in the state) and catalog (verified tickets use it at once)."""
        newer = take_updates(self.state, self.trust, response)
        if newer is None or newer.catalog.product(self.product.activation_id) is None:
            return
        self.new_trust = self.trust = newer
        self.snapshot = ClientSnapshot.of(self.state, newer, self.snapshot.application_key)

    def _remember_host(
        self, candidate: Candidate, address: str, response: ActivationResponse
    ) -> None:
        state = self.state
        state.last_host_id = response.host_id
        if candidate.source == "registered" and response.port and response.port != candidate.port:
            # The host tells clients its port; a port set by hand is overwritten.
            state.registered_host = format_address(candidate.host, response.port)
        if state.host_caching and candidate.source != "registered":
            state.cached_host = format_address(candidate.host, candidate.port)
        state.cached_address = address

    def _tried(self, candidate: Candidate, code: ResultCode, detail: str) -> None:
        where = format_address(candidate.host, candidate.port)
        self.tried.append(HostAttempt(where, candidate.source, code, detail))

    def _log_request(self, code: ResultCode, where: str, before: License) -> None:
        self.events.append(
            client_request_event(
                time=self._now(),
                result=code,
                server=where,
                cmid=self.state.cmid,
                license_status=int(before.state),
                minutes_to_expiration=before.minutes_remaining,
                activation_id=self.product.activation_id,
                n_policy=self.product.n_policy,
            )
        )

    def _log_response(
        self, code: ResultCode, response: ActivationResponse | None, *, activated: bool = False
    ) -> None:
        """The response event; a host that answered with an error has no count or intervals."""
        if response is None:
            event = client_response_event(time=self._now(), result=code, activated=activated)
        else:
            event = client_response_event(
                time=self._now(),
                result=code,
                activated=activated,
                current_count=response.current_count,
                activation_interval=response.activation_interval,
                renewal_interval=response.renewal_interval,
            )
        self.events.append(event)


_SKEW = settings.MAX_CLOCK_SKEW_HOURS * 3600
_MAX_COUNT = 2**31 - 1
_MAX_TIME = 2**40  # about the year 36812: anything later is garbage
_MAX_TEXT = 256


def _invalid_response(response: Message, request: ActivationRequest) -> str | None:
    """What is wrong with a decoded response's fields (None: nothing), before any is used."""
    if not isinstance(response, ActivationResponse | ErrorResponse):
        return f"unexpected {type(response).__name__}"
    if response.request_id not in (request.request_id, b""):
        return "the response answers another request"
    if isinstance(response, ErrorResponse):
        return None
    low, high = settings.INTERVAL_RANGE_MIN
    checks = (
        (0 <= response.current_count <= _MAX_COUNT, "current count"),
        (low <= response.activation_interval <= high, "activation interval"),
        (low <= response.renewal_interval <= high, "renewal interval"),
        (0 <= response.port <= 65535, "port"),
        (0 <= response.host_time <= _MAX_TIME, "host time"),
        (len(response.host_id) <= _MAX_TEXT and response.host_id.isprintable(), "host ID"),
    )
    for ok, field in checks:
        if not ok:
            return f"the response's {field} is out of range"
    return None


def _printable(text: str) -> str:
    """A host's message as it may be shown: printable characters only, bounded."""
    return "".join(c if c.isprintable() else "?" for c in text[:_MAX_TEXT])


def _no_host(tried: list[HostAttempt], dns_error: OpenKMSError | None) -> AttemptOutcome:
    if not tried and dns_error is not None:
        return AttemptOutcome(dns_error.code, dns_error.message)
    answered = [t for t in tried if t.result not in _UNREACHED]
    if answered:
        last = answered[-1]
        return AttemptOutcome(last.result, f"{last.address}: {last.detail}")
    detail = "; ".join(f"{t.address} ({t.source}): {t.detail}" for t in tried) or "no host known"
    if dns_error is not None:
        detail += f"; DNS: {dns_error.message}"
    return AttemptOutcome(
        ResultCode.NO_KMS_HOST_CONTACTED,
        f"{ResultCode.NO_KMS_HOST_CONTACTED.info.message} Tried: {detail}",
    )


_UNREACHED = {
    ResultCode.CONNECTION_REFUSED,
    ResultCode.TIMEOUT,
    ResultCode.RPC_SERVER_UNAVAILABLE,
    ResultCode.KMS_NOT_RESPONDING,
    ResultCode.DNS_NAME_DOES_NOT_EXIST,
    ResultCode.PROTOCOL_ERROR,
}
