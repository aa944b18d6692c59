"""``doctor bundle``: dlv, events and the report in one zip, never a key, a token or a ticket."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest

from doctor.sitetools import activate_clients, doctor
from openkms.doctor.stores.bundle import BUNDLE_FILES

from helpers import Site, host_process, make_site

pytestmark = pytest.mark.e2e


def _secrets(site: Site) -> list[bytes]:
    """What must never be in a bundle: private keys, the host key, tickets."""
    installed = site.host_state.host_key()
    assert installed is not None and installed.key is not None
    host_key = installed.key
    return [
        b"PRIVATE KEY",
        host_key.symbols.encode(),
        str(host_key).encode(),
        (site.host_dir / "host.key").read_bytes().strip(),
        (site.publisher.directory / "root.key").read_bytes().strip()[:60]
        if (site.publisher.directory / "root.key").exists()
        else b"PRIVATE KEY",
    ]


def _read(bundle: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(bundle) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_host_bundle(site: Site, tmp_path: Path) -> None:
    with host_process(site.host_dir) as host:
        clients = activate_clients(site, tmp_path / "c", "Standard", host.address, 5)
        out = tmp_path / "support" / "host.zip"
        code, text, _ = doctor(
            "bundle", "--store", str(site.host_dir), "-o", str(out), "--address", host.address
        )
    assert code == 0 and f"Wrote {out}" in text
    files = _read(out)
    assert sorted(files) == sorted(BUNDLE_FILES)
    assert b"Key Management Service is enabled on this machine" in files["dlv.txt"]
    assert b"Current count: 5" in files["dlv.txt"]
    assert json.loads(files["dlv.json"])["current_count"] == 5
    rows = list(csv.reader(io.StringIO(files["events.csv"].decode())))
    assert rows[0] == ["seq", "time", "event_id", "level", "info"] and len(rows) == 6
    report = json.loads(files["doctor.json"])
    assert {p["procedure"] for p in report["procedures"]} >= {"host", "count", "port"}
    assert b"== KMS host ==" in files["doctor.txt"]
    blob = b"".join(files.values())
    for secret in _secrets(site):
        assert secret not in blob
    ticket = clients[-1][0].state().ticket
    assert ticket is not None and ticket not in blob


def test_client_bundle(site: Site, tmp_path: Path) -> None:
    with host_process(site.host_dir) as host:
        ((client, _),) = activate_clients(site, tmp_path / "c", "Standard", host.address, 1)
        out = tmp_path / "client.zip"
        code, _, _ = doctor("bundle", "--store", str(client.directory), "-o", str(out))
    assert code == 0
    files = _read(out)
    assert b"Key Management Service client information" in files["dlv.txt"]
    assert b"12288" in files["events.csv"] and b"12289" in files["events.csv"]
    report = json.loads(files["doctor.json"])
    assert report["exit_code"] == 2  # count 1 < N 5
    state = json.loads((client.directory / "client.json").read_text())
    assert state["state"]["setup_key"].encode() not in b"".join(files.values())


def test_bundle_of_a_broken_or_foreign_store(tmp_path: Path) -> None:
    site = make_site(tmp_path / "s", activate=False)
    (site.host_dir / "host.db").write_bytes(b"garbage" * 100)
    out = tmp_path / "broken.zip"
    code, _, err = doctor(
        "bundle", "--store", str(site.host_dir), "-o", str(out), "--timeout", "0.2"
    )
    assert code == 0 and "Traceback" not in err
    files = _read(out)
    assert files["dlv.txt"].startswith(b"Error:")
    assert b"store-unreadable" in files["doctor.txt"]

    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, _ = doctor("bundle", "--store", str(empty), "-o", str(tmp_path / "e.zip"))
    assert code == 0
    assert b"not-a-store" in _read(tmp_path / "e.zip")["doctor.txt"]
    assert sorted(p.name for p in empty.iterdir()) == []  # nothing written to the store
