"""MAK activation against the real service: the limit, the same machine, blocking, concurrency."""

from __future__ import annotations

import json
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec
import pytest

from openkms.client.publisher_http import PublisherService
from openkms.core.publisher_api import (
    MAK_ACTIVATIONS_PATH,
    MAK_REQUEST_FORMAT,
    MakActivationRequest,
)
from openkms.errors import OpenKMSError
from openkms.publisher import Publisher
from pubservice import publisher_service, set_publisher_url

from helpers import openkms_cmd

pytestmark = pytest.mark.e2e


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(openkms_cmd(*args), capture_output=True, text=True, check=False)


def test_a_mak_up_to_its_limit_then_used_up_then_blocked(tmp_path: Path) -> None:
    pub = tmp_path / "pub"
    Publisher.init(pub, "Test Publisher")
    issued = _run("publisher", "issue-mak", str(pub), "--product", "Web", "--activations", "2")
    assert issued.returncode == 0, issued.stderr
    mak = issued.stdout.strip()
    with publisher_service(pub) as service:
        set_publisher_url(pub, service.url)  # the clients find the service in the catalog
        trust = str(pub / "trust.json")

        def client(name: str, *args: str) -> subprocess.CompletedProcess[str]:
            return _run("client", "--store", str(tmp_path / name), "--machine-name", name, *args)

        for name in ("pc1", "pc2", "pc3"):
            assert client(name, "ipk", mak, "--trust", trust).returncode == 0
        results = [client(name, "ato") for name in ("pc1", "pc2", "pc1", "pc3")]
        assert [r.returncode for r in results] == [0, 0, 0, 1], [r.stderr for r in results]
        assert "Product activated successfully (MAK" in results[0].stdout
        assert "0xC004C008" in results[3].stderr and "Traceback" not in results[3].stderr

        dli = client("pc1", "dli")
        assert "Acme Server, Web" in dli.stdout and "VOLUME_MAK channel" in dli.stdout
        assert "License Status: Licensed" in dli.stdout
        assert "Key Management Service" not in dli.stdout and "KMS" not in dli.stdout

        blocked = _run("publisher", "block-key", str(pub), mak)
        assert blocked.returncode == 0, blocked.stderr
        refused = client("pc2", "ato")
        assert refused.returncode == 1 and "0xC004C003" in refused.stderr
        # pc2 was activated: at its next online renewal the records refuse the blocked MAK;
        # its ticket stays valid offline, and dli says why the renewal failed.
        dli = client("pc2", "dli").stdout
        assert "Licensed" in dli
        assert "Last activation attempt: 0xC004C003 (The publisher has blocked" in dli
        listed = json.loads((pub / "revocations.json").read_text())  # and it is published
        assert listed["format"] == "openkms-revocations/1"
        assert "Traceback" not in service.log()

    report = json.loads(_run("publisher", "report", str(pub), "--json").stdout)
    (entry,) = report
    assert (entry["used"], entry["left"], entry["key"]["kind"]) == (2, 0, "mak")
    assert entry["key"]["blocked_at"] is not None
    assert sorted(m["count"] for m in entry["machines"]) == [1, 2]  # pc1 twice, one activation


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_concurrent_mak_activations_never_exceed_n(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two service processes on one database, 30 machines at once, a MAK of 4: 4 win."""
    dsn = request.getfixturevalue("pg_dsn") if database == "postgres" else None
    extra = ("--database", dsn) if dsn else ()
    publisher = Publisher.init(tmp_path / "pub", "Test Publisher", database=dsn)
    key, product = publisher.issue_mak("Web", 4)

    def activate(url: str) -> str:
        body = MakActivationRequest(
            MAK_REQUEST_FORMAT, str(key), str(uuid.uuid4()), "pc", product.activation_id
        )
        try:
            PublisherService(url, timeout=30).post(MAK_ACTIVATIONS_PATH, msgspec.json.encode(body))
        except OpenKMSError as exc:
            return exc.code.hex
        return "ok"

    with (
        publisher_service(publisher.directory, *extra) as first,
        publisher_service(publisher.directory, *extra) as second,
        ThreadPoolExecutor(10) as pool,
    ):
        urls = [first.url, second.url] * 15
        results = list(pool.map(activate, urls))
    assert results.count("ok") == 4
    assert results.count("0xC004C008") == 26
    (usage,) = publisher.usage()
    assert usage.used == 4 and len({m.machine for m in usage.machines}) == 4
