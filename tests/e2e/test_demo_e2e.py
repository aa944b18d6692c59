"""The main job: `openkms demo` on a fresh directory, as the README runs it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from helpers import openkms_cmd

pytestmark = pytest.mark.e2e


def test_the_demo_activates_every_client_and_ends_with_the_host_dli(tmp_path: Path) -> None:
    result = subprocess.run(
        [*openkms_cmd("demo", "--once", "--dir", str(tmp_path / "site")), "--no-admin"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "24 desktop clients (N=25) and 6 server clients (N=5)" in out
    assert "30 of 30 clients activated." in out
    assert "Current count: 30" in out
    assert "Failed requests received: 0" in out
    attempts = re.findall(r"N=(\d+)\s+count \[[#.]+\]\s+(\d+)\s+(ACTIVATED|0x\w+)", out)
    assert len(attempts) >= 30
    for n_policy, count, answer in attempts:
        assert (answer == "ACTIVATED") == (int(count) >= int(n_policy)), (n_policy, count, answer)
    assert {n for n, _, r in attempts if r != "ACTIVATED"} >= {"25"}
    assert "Traceback" not in result.stderr
