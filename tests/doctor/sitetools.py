"""Helpers of the doctor tests: clients activated against a real host, the CLI, reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from openkms.cli.main import cli
from openkms.client.api import AttemptOutcome, Client
from openkms.client.transport import TcpTransport

from helpers import Site


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
    return code, [f for group in data["procedures"] for f in group["findings"]]


def by_check(findings: list[dict[str, Any]], check: str) -> list[dict[str, Any]]:
    """The findings of one check."""
    return [f for f in findings if f["check"] == check]


def one(findings: list[dict[str, Any]], check: str) -> dict[str, Any]:
    """The single finding of one check."""
    found = by_check(findings, check)
    assert len(found) == 1, (check, findings)
    return found[0]
