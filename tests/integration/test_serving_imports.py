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
import sys
import time
import urllib.request
from pathlib import Path

from openkms.client.transport import TcpTransport
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
