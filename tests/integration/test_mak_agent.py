"""A MAK client's agent never looks for KMS hosts: the publisher's service, or nothing."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from openkms.client.agent import run_agent
from openkms.client.api import AttemptOutcome, Client
from openkms.client.info import gather_client_info
from openkms.client.transport import Transport
from openkms.core.codes import ResultCode
from openkms.dns.locator import Candidate, Locator
from openkms.protocol.messages import Message
from openkms.publisher import Publisher
from openkms.publisher.phone import confirm_installation

NOW = time.time()


class Forbidden(Locator, Transport):
    """A locator and transport that fail the test when a KMS host is looked for."""

    async def locate(self, service: str, domain: str | None) -> list[Candidate]:
        raise AssertionError("a MAK client looked for KMS hosts")

    async def exchange(self, host: str, port: int, request: Message) -> tuple[Message, str]:
        raise AssertionError("a MAK client talked to a KMS host")


@pytest.fixture
def publisher(tmp_path: Path) -> Publisher:
    return Publisher.init(tmp_path / "pub", "MAK Agent")


def mak_client(publisher: Publisher, store: Path, url: str | None = None) -> Client:
    forbidden = Forbidden()
    client = Client.open(
        store, clock=lambda: NOW, transport=forbidden, locator=forbidden, publisher_url=url
    )
    key, _ = publisher.issue_mak(publisher.trust().catalog.products[0].activation_id, 3)
    client.install_key(str(key), publisher.trust())
    client.set_kms("127.0.0.1:1")  # even a registered host is not for a MAK client
    return client


def once(client: Client) -> AttemptOutcome:
    return asyncio.run(run_agent(client, once=True))


def test_a_phone_activated_mak_without_a_service_makes_no_attempt(
    publisher: Publisher, tmp_path: Path
) -> None:
    client = mak_client(publisher, tmp_path / "pc")
    cid = confirm_installation(publisher, str(client.installation_id())).confirmation_id
    client.install_confirmation(cid)
    before = client.events.read()
    outcome = once(client)
    assert outcome.activated and "by phone" in outcome.message
    assert outcome.license is not None and outcome.license.licensed
    assert client.events.read() == before  # no request, no response event
    assert gather_client_info(client).channel == "VOLUME_MAK"


def test_an_unactivated_mak_without_a_service_says_to_activate_by_phone(
    publisher: Publisher, tmp_path: Path
) -> None:
    outcome = once(mak_client(publisher, tmp_path / "pc"))
    assert outcome.result is ResultCode.INVALID_ARGUMENT
    assert outcome.fix is not None and "client dti" in outcome.fix


def test_a_mak_with_a_service_renews_with_the_publisher_not_a_host(
    publisher: Publisher, tmp_path: Path
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    client = mak_client(publisher, tmp_path / "pc", url)
    outcome = once(client)
    assert not outcome.activated
    assert [attempt.source for attempt in outcome.tried] == ["publisher"]
    assert outcome.host == url


def test_a_mak_cleared_with_cpky_renews_with_nothing_even_with_a_service(
    publisher: Publisher, tmp_path: Path
) -> None:
    client = mak_client(publisher, tmp_path / "pc", "http://127.0.0.1:1")
    cid = confirm_installation(publisher, str(client.installation_id())).confirmation_id
    client.install_confirmation(cid)
    client.clear_key_text()
    before = client.events.read()
    outcome = once(client)
    assert outcome.activated and outcome.license is not None and outcome.license.licensed
    assert client.events.read() == before
    assert gather_client_info(client).channel == "VOLUME_MAK"
