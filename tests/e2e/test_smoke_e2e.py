"""The real host process on loopback, driven by the real CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers import Site, host_process, openkms_cmd

pytestmark = pytest.mark.e2e


def test_server_activates_at_five_over_tcp(site: Site, tmp_path: Path) -> None:
    trust = site.publisher.directory / "trust.json"
    key = site.product("Standard").setup_key
    with host_process(site.host_dir) as host:
        results = []
        for i in range(5):
            store = tmp_path / f"client{i}"
            base = openkms_cmd("client", "--store", str(store), "--machine-name", f"srv{i}")
            subprocess.run(
                [*base, "ipk", key, "--trust", str(trust)], check=True, capture_output=True
            )
            subprocess.run([*base, "skms", host.address], check=True, capture_output=True)
            results.append(subprocess.run([*base, "ato"], capture_output=True, text=True))
        assert [r.returncode for r in results] == [1, 1, 1, 1, 0]
        assert "0xC004F038" in results[0].stderr
        assert "current count 5" in results[4].stdout
    assert host.process.returncode == 0
    assert "Traceback" not in host.log()
