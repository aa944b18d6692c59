"""The client library: what the CLI uses and what an application embeds.

::

    client = Client.open(Path("/var/lib/myapp/license"))
    client.install_key("XXXXX-XXXXX-XXXXX-XXXXX-XXXXX", trust=Trust.from_json(data))
    outcome = client.activate()          # one attempt against the KMS host(s)
    license = client.license()           # verified offline: state, time left, ticket
    if license.state is LicenseState.NOTIFICATION: ...
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from openkms._address import format_address, parse_address
from openkms._files import atomic_write, read_bytes
from openkms.client.discovery import Candidate, Locator, NoLocator, candidates
from openkms.client.events import ClientEventLog
from openkms.client.state import ClientState, load_state, new_cmid, save_state
from openkms.client.transport import TcpTransport, Transport
from openkms.core import settings
from openkms.core.catalog import Product
from openkms.core.codes import ResultCode
from openkms.core.events import EventRecord, format_client_time, make_event
from openkms.core.keys import KeyKind, ProductKey
from openkms.core.license import LicenseState, LicenseStatus, evaluate
from openkms.core.ticket import VerifiedTicket, verify_ticket
from openkms.core.trust import Trust
from openkms.errors import KeyFormatError, OpenKMSError, SignatureError, StateError
from openkms.protocol.messages import (
    ActivationRequest,
    ActivationResponse,
    ErrorResponse,
    Message,
)

__all__ = ["AttemptOutcome", "Client", "HostAttempt", "License"]

_NOT_ENOUGH_COUNT = 0x04000000


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

    @property
    def activated(self) -> bool:
        """True when this attempt (re)activated the machine."""
        return self.result is ResultCode.OK


@dataclass
class Client:
    """A client store directory and the operations of ``slmgr`` on it."""

    directory: Path
    clock: Callable[[], float] = time.time
    transport: Transport = field(default_factory=TcpTransport)
    locator: Locator = field(default_factory=NoLocator)
    machine_name: str = ""
    search_domains: tuple[str, ...] = ()
    service: str | None = None  # the SRV service; None: the catalog's

    @classmethod
    def open(cls, directory: Path, **options: object) -> Client:
        """Open (or prepare) a client store; options as the dataclass fields."""
        client = cls(directory, **options)  # type: ignore[arg-type]
        if not client.machine_name:
            import socket

            client.machine_name = socket.gethostname()
        client.state()  # fail early on a corrupt state file
        return client

    # -- state ---------------------------------------------------------------------------

    def state(self) -> ClientState:
        """The persisted state."""
        return load_state(self.directory)

    def _save(self, state: ClientState) -> None:
        save_state(self.directory, state)

    def trust(self) -> Trust | None:
        """The pinned publisher trust, if installed."""
        path = self.directory / "trust.json"
        if not path.exists():
            return None
        return Trust.from_json(read_bytes(path, "trust file"), str(path))

    def _require_trust(self) -> Trust:
        trust = self.trust()
        if trust is None:
            raise StateError(code=ResultCode.TRUST_MISSING)
        return trust

    @property
    def events(self) -> ClientEventLog:
        """The client's event log."""
        return ClientEventLog(self.directory / "events.jsonl")

    def _now(self) -> int:
        return int(self.clock())

    # -- keys ----------------------------------------------------------------------------

    def install_key(self, text: str, trust: Trust | None = None) -> Product:
        """``ipk``: install a setup key (pins ``trust`` the first time)."""
        key = ProductKey.parse(text)
        if key.kind is KeyKind.HOST:
            raise KeyFormatError(
                "This is a host key: a client needs its edition's setup key.",
                fix="Install the setup key from 'openkms vendor setup-keys' (a host key on a "
                "client is a known mistake).",
            )
        if trust is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            atomic_write(self.directory / "trust.json", trust.to_json())
        product = self._require_trust().catalog.product_for_setup_key(key)
        if product is None:
            raise KeyFormatError("This setup key is not in the publisher's catalog.")
        state = self.state()
        if state.activation_id != product.activation_id:
            state.ticket = None
            state.grace_started_at = self._now()
        state.setup_key = key.symbols
        state.activation_id = product.activation_id
        self._save(state)
        return product

    def uninstall_key(self) -> None:
        """``upk``: remove the key and the activation."""
        state = self.state()
        state.setup_key = None
        state.activation_id = None
        state.ticket = None
        self._save(state)

    def product(self) -> Product | None:
        """The installed product edition."""
        state = self.state()
        trust = self.trust()
        if state.activation_id is None or trust is None:
            return None
        return trust.catalog.product(state.activation_id)

    def rearm(self) -> None:
        """``rearm``: new CMID, grace restarted, activation cleared (limited)."""
        state = self.state()
        if state.rearms_used >= settings.MAX_REARMS:
            raise OpenKMSError(code=ResultCode.MAX_REARMS_EXCEEDED)
        state.rearms_used += 1
        state.cmid = new_cmid()
        state.ticket = None
        state.grace_started_at = self._now()
        state.cached_host = state.cached_address = None
        self._save(state)

    # -- KMS host settings ---------------------------------------------------------------

    def set_kms(self, address: str | None) -> None:
        """``skms HOST[:PORT]`` (``None``: ``ckms``, back to discovery, cache cleared)."""
        state = self.state()
        if address is not None:
            host, port = parse_address(address, settings.DEFAULT_PORT)
            state.registered_host = format_address(host, port)
        else:
            state.registered_host = None
            state.cached_host = state.cached_address = None
        self._save(state)

    def set_kms_domain(self, domain: str | None) -> None:
        """``skms-domain D`` / ``ckms-domain``."""
        state = self.state()
        state.kms_domain = domain.rstrip(".") if domain else None
        self._save(state)

    def set_host_caching(self, enabled: bool) -> None:
        """``skhc`` / ``ckhc``."""
        state = self.state()
        state.host_caching = enabled
        if not enabled:
            state.cached_host = state.cached_address = None
        self._save(state)

    # -- license -------------------------------------------------------------------------

    def license(self) -> License:
        """The license now, with the stored ticket verified offline."""
        state = self.state()
        now = self._now()
        product = self.product()
        verified = self._verified_ticket(state, now)
        status = evaluate(
            key_installed=product is not None,
            grace_started_at=state.grace_started_at,
            valid_until=verified.body.valid_until if verified else None,
            now=now,
        )
        return _license(status, now, product, verified)

    def _verified_ticket(self, state: ClientState, now: int) -> VerifiedTicket | None:
        trust = self.trust()
        if state.ticket is None or trust is None or state.activation_id is None:
            return None
        try:
            return verify_ticket(
                state.ticket,
                trust,
                cmid=uuid.UUID(state.cmid).bytes,
                activation_id=state.activation_id,
                now=now,
            )
        except SignatureError:
            return None

    # -- activation ----------------------------------------------------------------------

    def activate(self) -> AttemptOutcome:
        """``ato``: one activation attempt (blocking)."""
        return asyncio.run(self.activate_async())

    async def activate_async(self) -> AttemptOutcome:
        """One activation attempt: discovery, each host in turn, events, state saved."""
        state = self.state()
        trust = self._require_trust()
        product = self.product()
        if product is None:
            raise KeyFormatError(code=ResultCode.NO_PRODUCT_KEY)
        hosts, dns_error = await candidates(
            registered=state.registered_host,
            cached=state.cached_host,
            caching=state.host_caching,
            cached_address=state.cached_address,
            locator=self.locator,
            service=self.service or trust.catalog.service,
            domain=state.kms_domain,
        )
        tried: list[HostAttempt] = []
        outcome: AttemptOutcome | None = None
        for candidate in hosts:
            outcome = await self._try_host(candidate, state, trust, product, tried)
            if outcome is not None:
                break
        state.last_attempt_at = self._now()
        if outcome is None:
            outcome = _no_host(tried, dns_error)
        state.last_result = int(outcome.result)
        self._save(state)
        return AttemptOutcome(
            outcome.result,
            outcome.message,
            outcome.count,
            outcome.host,
            tuple(tried),
            self.license(),
        )

    async def _try_host(
        self,
        candidate: Candidate,
        state: ClientState,
        trust: Trust,
        product: Product,
        tried: list[HostAttempt],
    ) -> AttemptOutcome | None:
        """Ask one host; None means 'try the next one'."""
        now = self._now()
        before = self.license()
        where = format_address(candidate.host, candidate.port)
        request = ActivationRequest(
            secrets.token_bytes(16),
            trust.catalog.application_id,
            product.activation_id,
            uuid.UUID(state.cmid).bytes,
            self.machine_name,
            now,
            int(before.state),
            before.minutes_remaining,
            product.n_policy,
        )
        try:
            response, address = await self._exchange(candidate, request)
        except OpenKMSError as exc:
            self.events.append(self._event_12288(exc.code, where, state, before, product))
            tried.append(HostAttempt(where, candidate.source, exc.code, exc.message))
            return None
        self.events.append(self._event_12288(ResultCode.OK, where, state, before, product))
        if not isinstance(response, ActivationResponse):
            code, detail = ResultCode.PROTOCOL_ERROR, f"unexpected {type(response).__name__}"
            if isinstance(response, ErrorResponse):
                code, detail = _code(response.result), response.message
            self._log_12289(code, None, activated=False)
            tried.append(HostAttempt(where, candidate.source, code, detail))
            return None
        return self._process(
            response, candidate, address, state=state, trust=trust, product=product, tried=tried
        )

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
        self,
        response: ActivationResponse,
        candidate: Candidate,
        address: str,
        *,
        state: ClientState,
        trust: Trust,
        product: Product,
        tried: list[HostAttempt],
    ) -> AttemptOutcome | None:
        where = format_address(candidate.host, candidate.port)
        code = _code(response.result)
        state.activation_interval = response.activation_interval
        state.renewal_interval = response.renewal_interval
        state.last_count = response.current_count
        if code is not ResultCode.OK:
            self._log_12289(code, response, activated=False)
            tried.append(HostAttempt(where, candidate.source, code, code.info.message))
            return None
        if response.current_count < product.n_policy or response.ticket is None:
            result = ResultCode.COUNT_TOO_LOW
        else:
            result = self._accept_ticket(response.ticket, state, trust)
        self._log_12289(result, response, activated=result is ResultCode.OK)
        tried.append(HostAttempt(where, candidate.source, result, result.info.message))
        self._remember_host(state, candidate, address, response)
        return AttemptOutcome(result, result.info.message, response.current_count, where)

    def _accept_ticket(self, ticket: bytes, state: ClientState, trust: Trust) -> ResultCode:
        assert state.activation_id is not None
        try:
            verify_ticket(
                ticket,
                trust,
                cmid=uuid.UUID(state.cmid).bytes,
                activation_id=state.activation_id,
                now=self._now(),
            )
        except SignatureError:
            return ResultCode.TICKET_INVALID
        state.ticket = ticket
        return ResultCode.OK

    def _remember_host(
        self, state: ClientState, candidate: Candidate, address: str, response: ActivationResponse
    ) -> None:
        state.last_host_id = response.host_id
        if candidate.source == "registered" and response.port and response.port != candidate.port:
            # The host tells clients its port; a port set by hand is overwritten.
            state.registered_host = format_address(candidate.host, response.port)
        if state.host_caching and candidate.source != "registered":
            state.cached_host = format_address(candidate.host, candidate.port)
        state.cached_address = address

    def _log_12289(
        self, code: ResultCode, response: ActivationResponse | None, *, activated: bool
    ) -> None:
        """The response event; a host that answered with an error has no count or intervals."""
        flags = _NOT_ENOUGH_COUNT if code is ResultCode.COUNT_TOO_LOW else 0
        answered = (
            (response.current_count, response.activation_interval, response.renewal_interval)
            if response is not None
            else (0, 0, 0)
        )
        values = (
            f"0x{int(code):X}" if code else "0x0",
            f"0x{flags:X}",
            int(activated),
            0,
            *answered,
            format_client_time(self._now()),
        )
        self.events.append(make_event(12289, self._now(), values))

    def _event_12288(
        self, code: ResultCode, where: str, state: ClientState, before: License, product: Product
    ) -> EventRecord:
        values = (
            f"0x{int(code):X}" if code else "0x0",
            "0x0",
            where,
            state.cmid,
            format_client_time(self._now()),
            0,
            int(before.state),
            before.minutes_remaining,
            product.activation_id,
            product.n_policy,
        )
        return make_event(12288, self._now(), values)


def _code(value: int) -> ResultCode:
    try:
        return ResultCode(value)
    except ValueError:
        return ResultCode.PROTOCOL_ERROR


def _license(
    status: LicenseStatus, now: int, product: Product | None, verified: VerifiedTicket | None
) -> License:
    return License(
        status.state,
        status.ends_at,
        status.minutes_remaining(now),
        status.reason,
        product,
        verified,
    )


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
