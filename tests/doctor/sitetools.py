"""Helpers of the doctor tests: clients activated against a real host, the CLI, reports."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from openkms._address import format_address
from openkms.cli.main import cli
from openkms.client.api import AttemptOutcome, Client
from openkms.client.transport import TcpTransport
from openkms.doctor.catalogue import check_of
from openkms.errors import network_error
from openkms.protocol.connection import NEED_DATA, Connection, Role, encode
from openkms.protocol.messages import Message

from helpers import Site, openkms_cmd


class BoundTransport(TcpTransport):
    """TCP from one local address (``127.0.0.x``): a machine of its own, as the host sees it."""

    def __init__(self, source: str, timeout: float = 5.0) -> None:
        super().__init__(timeout)
        self.source = source

    async def exchange(self, host: str, port: int, request: Message) -> tuple[Message, str]:
        """Connect from ``source``, send one frame, read one frame, close."""
        where = format_address(host, port)
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, local_addr=(self.source, 0)
                )
                try:
                    writer.write(encode(request))
                    conn = Connection(role=Role.CLIENT)
                    while (message := conn.next_event()) is NEED_DATA:
                        data = await reader.read(65536)
                        assert data, f"{where} closed the connection"
                        conn.receive_data(data)
                    return message, writer.get_extra_info("peername")[0]
                finally:
                    writer.close()
        except OSError as exc:
            raise network_error(exc, where, self.timeout) from None


def client_of(site: Site, directory: Path, edition: str, address: str, name: str) -> Client:
    """A client with the edition's setup key, pointed at ``address`` (skms)."""
    client = Client.open(directory, machine_name=name, transport=TcpTransport(5.0))
    client.install_key(site.product(edition).setup_key, site.publisher.trust())
    client.set_kms(address)
    return client


def activate_clients(
    site: Site, root: Path, edition: str, address: str, count: int, prefix: str = "pc"
) -> list[tuple[Client, AttemptOutcome]]:
    """``count`` clients of ``edition``, each with one activation attempt."""
    out = []
    for index in range(count):
        client = client_of(site, root / f"{prefix}{index}", edition, address, f"{prefix}{index}")
        out.append((client, client.activate()))
    return out


def doctor(*args: str) -> tuple[int, str, str]:
    """Run ``openkms doctor ARGS``: exit code, stdout, stderr."""
    result = CliRunner().invoke(cli, ["doctor", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def doctor_json(*args: str) -> tuple[int, list[dict[str, Any]]]:
    """Run a doctor command with --json: exit code and the flat list of findings."""
    code, out, err = doctor(*args, "--json")
    assert "Traceback" not in out + err
    data = json.loads(out)
    assert data["exit_code"] == code
    findings = [f for group in data["procedures"] for f in group["findings"]]
    assert [f["check"] for f in findings if check_of(f["check"]) is None] == []
    return code, findings


def by_check(findings: list[dict[str, Any]], check: str) -> list[dict[str, Any]]:
    """The findings of one check."""
    return [f for f in findings if f["check"] == check]


def one(findings: list[dict[str, Any]], check: str) -> dict[str, Any]:
    """The single finding of one check."""
    found = by_check(findings, check)
    assert len(found) == 1, (check, findings)
    return found[0]


def top_of(*args: str) -> dict[str, Any]:
    """The most likely cause ``openkms doctor ARGS --json`` names (its ``top``)."""
    _, out, err = doctor(*args, "--json")
    assert "Traceback" not in out + err
    top: dict[str, Any] = json.loads(out)["top"]
    return top


def top_in_process(*args: str, faketime: str) -> dict[str, Any]:
    """``top_of`` in a real process whose clock is moved by ``faketime`` (``+25d``)."""
    command = ["faketime", "-f", faketime, *openkms_cmd("doctor", *args, "--json")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    top: dict[str, Any] = json.loads(result.stdout)["top"]
    return top


def export_events(store: Path, path: Path, role: str = "host") -> Path:
    """``openkms host|client --store STORE events --format json`` written to ``path``."""
    command = openkms_cmd(role, "--store", str(store), "events", "--format", "json")
    with path.open("wb") as out:
        subprocess.run(command, stdout=out, check=True, timeout=60)
    return path
