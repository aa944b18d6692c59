"""What a serving host's front process imports: what serving uses, and none of the rest.

``openkms host serve --no-dns --no-admin`` (a real process, on loopback) must not load the
other commands' modules (the doctor, the client, the publisher, telephone activation), nor
dnspython, nor the HTTP client, nor the file log handlers, nor ``cryptography`` (13 MiB: the
host signs with libsodium): each is resident for as long as the host serves (bench/README.md,
"Memory (this wave)"; the writer process is checked in ``tests/unit/test_import_weight.py``).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
import urllib.request
from pathlib import Path

from openkms.client.transport import TcpTransport
from openkms.core.codes import ResultCode
from openkms.dns.status import read_status
from openkms.host.state import HostState
from openkms.protocol.messages import ActivationRequest, ActivationResponse

from helpers import Site, host_process

# Started in place of `python -m openkms ...`: runs the same command line and writes the
# names of the modules it had loaded to the file named first, at exit.
PROBE = """
import atexit, json, runpy, sys
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["openkms", *sys.argv[sys.argv.index("openkms") + 1 :]]
runpy.run_module("openkms", run_name="__main__", alter_sys=True)
"""

SERVING_NEVER = (
    "aiohttp",
    "asyncpg",
    "babel",
    "cryptography",
    "dns",
    "email",
    "http.client",
    "logging.handlers",
    "urllib.request",
    "openkms.admin.server",
    "openkms.cli.client",
    "openkms.cli.host",
    "openkms.cli.host_dns",
    "openkms.cli.phone",
    "openkms.cli.publisher",
    "openkms.client",
    "openkms.core.phone",
    "openkms.dns.publisher",
    "openkms.doctor",
    "openkms.event_export",
    "openkms.host.online",
    "openkms.host.publishing",
    "openkms.publisher",
)


def activate_once(site: Site, host: str, port: int) -> ActivationResponse:
    """One client's activation request to the real host, over TCP."""
    product = site.product("Standard")
    request = ActivationRequest(
        os.urandom(16),
        site.publisher.trust().catalog.application_id,
        product.activation_id,
        os.urandom(16),
        "pc-imports",
        int(time.time()),
        2,
        43200,
        product.n_policy,
    )
    response, _where = asyncio.run(TcpTransport().exchange(host, port, request))
    assert isinstance(response, ActivationResponse)
    return response


def test_a_serving_host_loads_only_what_serving_uses(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "modules.json"
    with host_process(site.host_dir, prefix=(sys.executable, "-c", PROBE, str(out))) as host:
        assert activate_once(site, host.host, host.port).current_count == 1
        assert host.stop() == 0, host.log
    loaded = set(json.loads(out.read_text()))
    assert {"uvloop", "openkms.host.server", "openkms.cli.host_serve"} <= loaded
    assert sorted(name for name in SERVING_NEVER if name in loaded) == []


def test_the_admin_server_loads_aiohttp_on_its_first_connection(site: Site, tmp_path: Path) -> None:
    """A host serving its admin API but never asked: no aiohttp (about 15 MiB); asked once:
    loaded, and the answer is the admin's."""
    for asked in (False, True):
        out = tmp_path / f"modules-{asked}.json"
        prefix = (sys.executable, "-c", PROBE, str(out))
        with host_process(site.host_dir, "--admin", "127.0.0.1:0", prefix=prefix) as host:
            assert activate_once(site, host.host, host.port).current_count >= 1
            if asked:
                with urllib.request.urlopen(f"http://{host.admin}/healthz", timeout=30) as r:
                    assert json.load(r) == {"status": "ok"}
            assert host.stop() == 0, host.log
        loaded = set(json.loads(out.read_text()))
        assert {"openkms.admin.lazy", "openkms.admin.http_guard"} <= loaded
        assert ("aiohttp" in loaded, "openkms.admin.server" in loaded) == (asked, asked)


def test_a_publishing_host_leaves_dnspython_to_its_child(site: Site, tmp_path: Path) -> None:
    """DNS publishing on: each cycle runs in a child process (12293 here: the server is
    silent), and the front never loads dnspython, ``importlib.metadata`` or ``email``."""
    out = tmp_path / "modules.json"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        server = f"127.0.0.1:{silent.getsockname()[1]}"
        HostState(site.host_dir).update_settings(
            dns_servers=[server], dns_domain="example.test", dns_timeout=0.3
        )
        prefix = (sys.executable, "-c", PROBE, str(out))
        with host_process(site.host_dir, dns=True, prefix=prefix) as host:
            assert activate_once(site, host.host, host.port).current_count >= 1
            deadline = time.monotonic() + 60
            while (status := read_status(site.host_dir)) is None or not status.domains:
                assert time.monotonic() < deadline, host.log
                time.sleep(0.05)
            assert host.stop() == 0, host.log
    assert [(d.domain, d.result) for d in status.domains] == [
        ("example.test", ResultCode.TIMEOUT.hex)
    ]
    loaded = set(json.loads(out.read_text()))
    assert "openkms.host.dns_runner" in loaded
    never = (*SERVING_NEVER, "importlib.metadata", "openkms.host.dns_child")
    assert sorted(name for name in never if name in loaded) == []
