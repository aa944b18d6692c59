"""What dli, dlv and the dashboard say is what the running host does."""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.request
from pathlib import Path

from doctor.sitetools import activate_clients, doctor_json, one
from openkms.doctor.network.probe import probe

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


def test_doctor_port_reports_the_count_of_the_application_the_host_serves(
    site: Site, tmp_path: Path
) -> None:
    with host_process(site.host_dir) as host:
        activate_clients(site, tmp_path, "Standard", host.address, 3)
        result = asyncio.run(probe(host.host, host.port, 5.0))  # no application ID given
        code, findings = doctor_json("port", host.address)
    assert result.response is not None and result.response.current_count == 3
    assert code == 0
    assert "current count 3" in one(findings, "openkms-host")["evidence"]
