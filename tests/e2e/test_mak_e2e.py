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


def _field(done: subprocess.CompletedProcess[str], name: str) -> str:
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)[name])


def test_a_machine_activated_online_and_by_phone_uses_one_activation(tmp_path: Path) -> None:
    """A MAK for one machine: online, then by phone (the site lost its internet), then online
    again; and another MAK by phone first, then online. Each key: one machine, used 1."""
    pub = tmp_path / "pub"
    Publisher.init(pub, "Test Publisher")
    issue = ("publisher", "issue-mak", str(pub), "--product", "Web", "--activations", "1")
    first_mak, second_mak = _run(*issue).stdout.strip(), _run(*issue).stdout.strip()
    with publisher_service(pub) as service:
        set_publisher_url(pub, service.url)
        trust = str(pub / "trust.json")

        def client(name: str, *args: str) -> subprocess.CompletedProcess[str]:
            return _run("client", "--store", str(tmp_path / name), "--machine-name", name, *args)

        def by_phone(name: str) -> subprocess.CompletedProcess[str]:
            iid = _field(client(name, "dti", "--json"), "installation_id")
            cid = _field(_run("publisher", "confirm", str(pub), iid, "--json"), "confirmation_id")
            return client(name, "atp", cid)

        assert client("pc1", "ipk", first_mak, "--trust", trust).returncode == 0
        assert client("pc2", "ipk", first_mak, "--trust", trust).returncode == 0
        assert client("pc3", "ipk", second_mak, "--trust", trust).returncode == 0
        online = client("pc1", "ato")
        assert online.returncode == 0, online.stderr
        phone = by_phone("pc1")
        assert "activated (MAK)" in phone.stdout, phone.stderr
        assert client("pc1", "ato").returncode == 0
        iid = _field(client("pc2", "dti", "--json"), "installation_id")
        refused = _run("publisher", "confirm", str(pub), iid)
        assert refused.returncode == 1 and "0xC004C008" in refused.stderr  # another machine
        assert "activated (MAK)" in by_phone("pc3").stdout
        again = client("pc3", "ato")
        assert again.returncode == 0, again.stderr
        assert "Traceback" not in service.log()

    report = json.loads(_run("publisher", "report", str(pub), "--json").stdout)
    assert [(e["used"], e["left"]) for e in report] == [(1, 0), (1, 0)]
    machines = sorted((m["machine_name"], m["count"]) for e in report for m in e["machines"])
    assert machines == [("pc1", 3), ("pc3", 2)]  # one record each, whichever way it came
    listed = _run("publisher", "list-keys", str(pub)).stdout
    assert listed.count("used 1 of 1, 0 left") == 2
