"""A hostile machine first in a real BIND9 SRV set, a real OpenKMS host second: the client
(CLI and agent, real processes) logs the hostile answer as a protocol error, tries the next
host and activates; the agent keeps running after meeting only the hostile one."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest
from bindserver import Bind

from openkms.client.api import Client
from openkms.core.codes import ResultCode
from openkms.dns.update import DnsUpdater, Registration
from openkms.protocol.connection import HEADER, MAGIC, VERSION

from helpers import Site, host_process, openkms_cmd

pytestmark = pytest.mark.e2e

SERVICE = "_hostile._tcp"


def _invalid_utf8_response() -> bytes:
    """An ActivationResponse frame whose host_id is not UTF-8 (what crashed clients)."""
    fields = [b"\x01" * 16, 0, 5, 120, 10080, 1688, int(time.time())]
    payload = bytes([0x99]) + b"".join(msgspec.msgpack.encode(v) for v in fields)
    payload += bytes([0xA4]) + b"\xff\xfe\xfd\xfc" + b"\xc0"
    return HEADER.pack(MAGIC, VERSION, 2, len(payload)) + payload


@contextlib.contextmanager
def hostile_server(answer: bytes) -> Iterator[tuple[int, list[int]]]:
    """An asyncio server on loopback that answers every request with ``answer``."""
    ready = threading.Event()
    served: list[int] = []
    box: dict[str, object] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)  # the request frame
        writer.write(answer)
        await writer.drain()
        writer.close()
        served.append(1)

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        stop = asyncio.Event()
        box["port"] = server.sockets[0].getsockname()[1]
        box["stop"] = (asyncio.get_running_loop(), stop)
        ready.set()
        async with server:
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield int(box["port"]), served  # type: ignore[call-overload]
    finally:
        loop, stop = box["stop"]  # type: ignore[misc]
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)


def _publish(bind: Bind, *regs: Registration) -> None:
    updater = DnsUpdater([bind.server], key=bind.key, timeout=2.0)
    for reg in regs:
        asyncio.run(updater.publish(reg))


def _client_cli(directory: Path, bind: Bind, *args: str) -> list[str]:
    return openkms_cmd(
        "client", "--store", str(directory), "--dns-server", bind.address,
        "--search-domain", "openkms.test", "--service", SERVICE, "--timeout", "5", *args,
    )  # fmt: skip


def _wait_for(predicate: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(str(predicate))
        time.sleep(0.05)


def _events(directory: Path) -> list[tuple[int, str]]:
    out = subprocess.run(
        openkms_cmd("client", "--store", str(directory), "events", "--format", "json"),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [(e["event_id"], e["info"]) for e in json.loads(out.stdout)]


def test_a_hostile_host_first_in_the_srv_set_then_a_real_host(
    site: Site, bind: Bind, tmp_path: Path
) -> None:
    setup = site.product("Standard").setup_key
    trust = str(site.publisher.directory / "trust.json")
    with (
        host_process(site.host_dir) as host,
        hostile_server(_invalid_utf8_response()) as (
            rogue_port,
            served,
        ),
    ):
        _publish(
            bind,
            Registration(SERVICE, "openkms.test", "rogue.openkms.test", rogue_port, 0,
                         addresses=("127.0.0.1",)),
            Registration(SERVICE, "openkms.test", "kms.openkms.test", host.port, 10,
                         addresses=("127.0.0.1",)),
        )  # fmt: skip
        for i in range(4):  # four clients set on the real host by hand: count 4 of N=5
            client = Client.open(tmp_path / f"pc{i}", machine_name=f"pc{i}")
            client.install_key(setup, site.publisher.trust())
            client.set_kms(host.address)
            client.activate()

        store = tmp_path / "cli"
        subprocess.run(_client_cli(store, bind, "ipk", setup, "--trust", trust), check=True)
        ato = subprocess.run(_client_cli(store, bind, "ato"), capture_output=True, text=True)
        assert ato.returncode == 0, ato.stderr
        assert "Traceback" not in ato.stderr
        assert (
            f"Product activated successfully (current count 5, kms.openkms.test:{host.port})"
            in ato.stdout
        )
        assert served  # the hostile machine was asked first, and answered
        logged = _events(store)
        assert [(eid, info.split(",")[0]) for eid, info in logged] == [
            (12288, "0x0"),
            (12289, f"0x{ResultCode.PROTOCOL_ERROR:X}"),
            (12288, "0x0"),
            (12289, "0x0"),
        ]
        assert f"rogue.openkms.test:{rogue_port}" in logged[0][1]

        dli = subprocess.run(_client_cli(store, bind, "dli"), capture_output=True, text=True)
        assert "License Status: Licensed" in dli.stdout


def test_the_agent_keeps_running_after_a_hostile_answer(
    site: Site, bind: Bind, tmp_path: Path
) -> None:
    setup = site.product("Standard").setup_key
    trust = str(site.publisher.directory / "trust.json")
    store = tmp_path / "agent"
    with hostile_server(_invalid_utf8_response()) as (rogue_port, _):
        subprocess.run(_client_cli(store, bind, "ipk", setup, "--trust", trust), check=True)
        subprocess.run(_client_cli(store, bind, "skms", f"127.0.0.1:{rogue_port}"), check=True)
        log = tmp_path / "agent.log"
        with log.open("wb") as err:
            agent = subprocess.Popen(
                _client_cli(store, bind, "run"), stdout=subprocess.PIPE, stderr=err
            )
        try:
            _wait_for(lambda: any(eid == 12289 for eid, _ in _events(store)))
            assert agent.poll() is None  # still running, waiting for the next attempt
        finally:
            agent.send_signal(signal.SIGTERM)
            code = agent.wait(20)
        assert code == 0  # stopped by the signal, cleanly
        assert "Traceback" not in log.read_text()
        assert agent.stdout is not None
        with agent.stdout:
            out = agent.stdout.read().decode()
        assert out.startswith(ResultCode.NO_KMS_HOST_CONTACTED.hex), out
        assert "Invalid UTF-8" in out and "next attempt in 120 minutes" in out
        assert (12289, f"0x{ResultCode.PROTOCOL_ERROR:X}") in [
            (eid, info.split(",")[0]) for eid, info in _events(store)
        ]
