"""The publisher's service as a real process: online host activation, refusals, the service down."""

from __future__ import annotations

import http.client
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from openkms.publisher import Publisher
from pubservice import publisher_service, set_publisher_url

from helpers import host_process, openkms_cmd

pytestmark = pytest.mark.e2e


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(openkms_cmd(*args), capture_output=True, text=True, check=False)


@pytest.fixture
def publisher(tmp_path: Path) -> Publisher:
    """A publisher with a one-machine edition (N = 1) in group C."""
    publisher = Publisher.init(tmp_path / "pub", "Test Publisher")
    publisher.add_product("Acme Tool", "Solo", "C", 1)
    return publisher


def test_online_host_activation_end_to_end(publisher: Publisher, tmp_path: Path) -> None:
    """host ato with the catalog's URL, then a client activates through that host."""
    pub, host_dir = publisher.directory, tmp_path / "host"
    with publisher_service(pub) as service:
        set_publisher_url(pub, service.url)
        host_key = publisher.issue_host_key("C")
        trust = str(pub / "trust.json")
        assert _run("host", "--store", str(host_dir), "ipk", str(host_key), "--trust", trust)
        activated = _run("host", "--store", str(host_dir), "--machine-name", "kms1", "ato")
        assert activated.returncode == 0, activated.stderr
        assert "Host activated: license group C" in activated.stdout
        again = _run("slmgr", "--store", str(host_dir), "/ato")  # slmgr spelling, same host
        assert again.returncode == 0, again.stderr
        assert "Traceback" not in service.log()

    (usage,) = publisher.usage()
    assert (usage.used, usage.machines[0].count) == (1, 2)  # one host, activated twice
    solo = next(p for p in publisher.trust().catalog.products if p.edition == "Solo")
    with host_process(host_dir) as host:
        base = ("client", "--store", str(tmp_path / "client"))
        assert _run(*base, "ipk", solo.setup_key, "--trust", trust).returncode == 0
        assert _run(*base, "skms", host.address).returncode == 0
        client = _run(*base, "ato")
    assert client.returncode == 0, client.stderr
    assert "Product activated successfully (current count 1" in client.stdout


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_service_down_names_the_offline_path_which_still_works(
    publisher: Publisher, tmp_path: Path
) -> None:
    host = ("host", "--store", str(tmp_path / "host"))
    trust = str(publisher.directory / "trust.json")
    assert _run(*host, "ipk", str(publisher.issue_host_key("B")), "--trust", trust).returncode == 0
    down = _run(*host, "ato", "--publisher-url", f"http://127.0.0.1:{_closed_port()}")
    assert down.returncode == 1
    assert "0x8007274D" in down.stderr and "cannot be reached" in down.stderr
    assert "activation-request" in down.stderr and "Traceback" not in down.stderr
    no_url = _run(*host, "ato")
    assert no_url.returncode == 1 and "names no activation service" in no_url.stderr

    request, certificate = tmp_path / "req.json", tmp_path / "cert.json"
    assert _run(*host, "activation-request", "-o", str(request)).returncode == 0
    offline = _run(
        "publisher", "activate-host", str(publisher.directory), str(request), "-o", str(certificate)
    )
    assert offline.returncode == 0, offline.stderr
    installed = _run(*host, "install-certificate", str(certificate))
    assert installed.returncode == 0 and "license group B" in installed.stdout


def test_hostile_bytes_to_the_real_service(publisher: Publisher, tmp_path: Path) -> None:
    """Garbage, lies about lengths and non-HTTP: 4xx or a closed connection, never a crash."""
    with publisher_service(publisher.directory) as service:
        parts = urlsplit(service.url)
        assert parts.hostname is not None and parts.port is not None
        address = (parts.hostname, parts.port)
        for raw in (
            b"\x00\xff garbage\r\n\r\n",
            b"POST /v1/mak-activations HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n{",
            b"POST /v1/host-activations HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n[1,2]",
            b"GET /v1/trust?" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        ):
            with socket.create_connection(address, timeout=10) as conn:
                conn.sendall(raw)
                conn.shutdown(socket.SHUT_WR)
                with conn.makefile("rb") as reader:
                    answer = reader.read(200)
            assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer
        healthy = http.client.HTTPConnection(*address, timeout=10)
        try:
            healthy.request("GET", "/healthz")
            assert healthy.getresponse().status == 200
        finally:
            healthy.close()
        assert "Traceback" not in service.log()
    assert publisher.usage() == []
