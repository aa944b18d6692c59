"""What dli, dlv and the dashboard say is what the running host does."""

from __future__ import annotations

import json
import subprocess
import urllib.request

from helpers import Site, host_process, openkms_cmd


def dli(site: Site, *extra: str) -> str:
    command = openkms_cmd("host", "--store", str(site.host_dir), "dli", *extra)
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def test_dli_and_the_dashboard_show_the_port_actually_listened_on(site: Site) -> None:
    with host_process(site.host_dir, "--admin", "127.0.0.1:0") as host:
        assert host.port != 1688
        assert f"    Listening on Port: {host.port}\n" in dli(site)
        document = json.loads(dli(site, "--json"))
        assert (document["port"], document["listening"]) == (host.port, [host.address])
        with urllib.request.urlopen(f"http://{host.admin}/api/status", timeout=10) as response:
            status = json.loads(response.read())
        assert status["port"] == host.port
    stopped = dli(site)
    assert "    Listening on Port: 1688\n" in stopped
    assert "no host is serving this store: the port is the one set with sprt" in stopped
    assert json.loads(dli(site, "--json"))["listening"] == []
