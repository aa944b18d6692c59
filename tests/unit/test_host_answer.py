"""HostService.answer, the host's one entry: ``deliver`` is called exactly once, always."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from openkms.core.codes import ResultCode
from openkms.core.ticket import verify_ticket
from openkms.errors import StoreError
from openkms.host.service import HostService
from openkms.protocol import (
    ActivationRequest,
    ActivationResponse,
    ErrorResponse,
    Message,
    ProbeRequest,
    ProbeResponse,
)
from openkms.store.base import EventQuery, RequestRecord
from openkms.store.memory import MemoryStore

from helpers import Site


class Deliveries:
    """A ``deliver`` callback that remembers every call."""

    def __init__(self) -> None:
        self.calls: list[Message] = []
        self.first: asyncio.Future[Message] = asyncio.get_running_loop().create_future()

    def __call__(self, response: Message) -> None:
        self.calls.append(response)
        if not self.first.done():
            self.first.set_result(response)


class HeldStore(MemoryStore):
    """A memory store whose records become durable only when the test says so."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[tuple[RequestRecord, asyncio.Future[int]]] = []

    def submit_record(self, request: RequestRecord) -> asyncio.Future[int]:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.held.append((request, future))
        return future

    async def release(self) -> None:
        for record, future in self.held:
            future.set_result(await super().submit_record(record))
        self.held.clear()


class RefusingStore(MemoryStore):
    """A store that refuses every write at once, as a closed SQLite store does."""

    def submit_record(self, request: RequestRecord) -> asyncio.Future[int]:
        raise StoreError("the store is closed")


class BrokenKey(Ed25519PrivateKey):
    """A host key that cannot sign (an HSM that went away)."""

    def __init__(self, real: Ed25519PrivateKey) -> None:
        self._real = real

    def sign(self, data: bytes) -> bytes:
        raise RuntimeError("the signing device is gone")

    def public_key(self) -> Any:
        return self._real.public_key()

    def private_bytes(self, *args: Any) -> bytes:
        return self._real.private_bytes(*args)

    def private_bytes_raw(self) -> bytes:
        return self._real.private_bytes_raw()

    def __copy__(self) -> BrokenKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> BrokenKey:
        return self


def _service(site: Site, store: MemoryStore, key: Ed25519PrivateKey | None = None) -> HostService:
    state = site.host_state
    return HostService(
        store=store,
        activation=state.activation(int(time.time())),
        private_key=key or state.private_key(),
        host_settings=state.settings,
        host_id=state.host_id,
        clock=time.time,
    )


def _request(
    site: Site, edition: str = "Standard", *, skew: int = 0, **changes: Any
) -> ActivationRequest:
    """A request for ``edition`` from a new machine whose clock is ``skew`` seconds ahead."""
    product = site.product(edition)
    fields: dict[str, Any] = {
        "request_id": uuid.uuid4().bytes,
        "application_id": site.publisher.trust().catalog.application_id,
        "activation_id": product.activation_id,
        "cmid": uuid.uuid4().bytes,
        "machine_name": "pc",
        "client_time": int(time.time()) + skew,
        "license_status": 2,
        "minutes_to_expiration": 43200,
        "n_policy": product.n_policy,
    }
    return ActivationRequest(**{**fields, **changes})


async def _settle() -> None:
    """Let every callback that could still run, run (the store, the ticket batch)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def _answer(service: HostService, message: Message) -> tuple[Message, bool]:
    """The one response delivered for ``message``, and whether it came before answer returned."""
    deliveries = Deliveries()
    service.answer(message, 1688, deliveries)
    at_once = bool(deliveries.calls)
    await deliveries.first
    await _settle()
    assert len(deliveries.calls) == 1, deliveries.calls
    return deliveries.calls[0], at_once


def run(body: Callable[[], Any]) -> Any:
    return asyncio.run(body())


def test_a_counted_request_that_reaches_n_gets_one_response_with_its_ticket(site: Site) -> None:
    store = MemoryStore()
    service = _service(site, store)
    observed: list[tuple[int, int]] = []
    service.on_request = lambda result, status, *_: observed.append((result, status))

    requests = [_request(site) for _ in range(5)]

    async def scenario() -> list[tuple[Message, bool]]:
        return [await _answer(service, request) for request in requests]

    answers = run(scenario)
    responses = [response for response, _ in answers]
    assert not any(at_once for _, at_once in answers)  # each waited for its record
    counts, tickets = [], []
    for response in responses:
        assert isinstance(response, ActivationResponse) and response.result == 0
        counts.append(response.current_count)
        tickets.append(response.ticket)
    assert counts == [1, 2, 3, 4, 5]
    assert tickets[:4] == [None] * 4
    ticket = tickets[4]
    assert ticket is not None
    verify_ticket(
        ticket,
        site.publisher.trust(),
        cmid=requests[4].cmid,
        activation_id=site.product("Standard").activation_id,
        now=int(time.time()),
    )
    # The four below N activated nothing: the metrics see them as 0xC004F038.
    assert observed == [(int(ResultCode.COUNT_TOO_LOW), 2)] * 4 + [(0, 2)]


def test_below_n_the_response_waits_for_the_durable_record_and_has_no_ticket(site: Site) -> None:
    store = HeldStore()
    service = _service(site, store)

    async def scenario() -> list[Message]:
        deliveries = Deliveries()
        service.answer(_request(site), 1688, deliveries)
        await _settle()
        assert deliveries.calls == []  # not durable yet: no answer
        await store.release()
        await _settle()
        return deliveries.calls

    (response,) = run(scenario)
    assert isinstance(response, ActivationResponse)
    assert (response.result, response.current_count, response.ticket) == (0, 1, None)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"activation_id": "not-in-the-catalog"}, ResultCode.PRODUCT_NOT_COVERED),
        ({"skew": 5 * 3600}, ResultCode.CLOCK_SKEW),
        ({"cmid": b"short"}, ResultCode.REQUEST_INVALID),
    ],
)
def test_a_refused_request_is_recorded_then_answered_once_with_its_code(
    site: Site, changes: dict[str, Any], code: ResultCode
) -> None:
    store = MemoryStore()
    service = _service(site, store)

    async def scenario() -> tuple[Message, bool, list[str]]:
        response, at_once = await _answer(service, _request(site, **changes))
        events = await store.events(EventQuery(event_ids=(12290,)))
        return response, at_once, [e.info for e in events]

    response, at_once, infos = run(scenario)
    assert isinstance(response, ActivationResponse)
    assert response.result == code and response.ticket is None and response.current_count == 0
    assert not at_once
    assert len(infos) == 1 and infos[0].startswith(f"0x{int(code):X},")


def test_a_message_that_is_not_a_request_is_answered_at_once(site: Site) -> None:
    service = _service(site, MemoryStore())
    stray = ActivationResponse(b"r" * 16, 0, 1, 120, 10080, 1688, 0, "h")

    response, at_once = run(lambda: _answer(service, stray))
    assert isinstance(response, ErrorResponse) and at_once
    assert response.result == ResultCode.PROTOCOL_ERROR


def test_a_store_that_refuses_the_write_gets_an_error_delivered_at_once(site: Site) -> None:
    service = _service(site, RefusingStore())
    request = _request(site)

    response, at_once = run(lambda: _answer(service, request))
    assert isinstance(response, ErrorResponse) and at_once
    assert (response.request_id, response.result) == (
        request.request_id,
        ResultCode.STORE_UNAVAILABLE,
    )


def test_a_write_that_fails_later_gets_one_error(site: Site) -> None:
    store = MemoryStore()
    run(store.close)  # its record() now raises StoreError, through the future
    service = _service(site, store)
    request = _request(site)

    response, at_once = run(lambda: _answer(service, request))
    assert isinstance(response, ErrorResponse) and not at_once
    assert (response.request_id, response.result) == (
        request.request_id,
        ResultCode.STORE_UNAVAILABLE,
    )


def test_a_signing_failure_answers_the_ticket_request_once_with_an_error(site: Site) -> None:
    service = _service(site, MemoryStore(), BrokenKey(site.host_state.private_key()))

    async def scenario() -> list[Message]:
        return [(await _answer(service, _request(site)))[0] for _ in range(5)]

    responses = run(scenario)
    assert [type(r) for r in responses] == [ActivationResponse] * 4 + [ErrorResponse]
    assert responses[-1].result == ResultCode.INTERNAL_ERROR


def test_a_probe_is_answered_once_and_not_counted(site: Site) -> None:
    store = MemoryStore()
    service = _service(site, store)
    probe = ProbeRequest(b"p" * 16, site.publisher.trust().catalog.application_id)

    async def scenario() -> tuple[Message, int]:
        response, _ = await _answer(service, probe)
        return response, (await store.counters(service.host_id)).total

    response, total = run(scenario)
    assert isinstance(response, ProbeResponse)
    assert (response.activated, response.current_count, response.port, total) == (True, 0, 1688, 0)


def test_handle_returns_what_answer_delivers(site: Site) -> None:
    service = _service(site, RefusingStore())
    request = _request(site)

    response = run(lambda: service.handle(request, 1688))
    assert isinstance(response, ErrorResponse) and response.request_id == request.request_id
