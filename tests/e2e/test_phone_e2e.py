"""Phone activation end to end: real CLI processes for dti, publisher confirm and atp.

The setup (publisher, keys) goes through the library to keep the test fast; every step an
operator performs by phone is a real ``openkms`` process.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from openkms.client.api import Client
from openkms.client.transport import TcpTransport
from openkms.host.state import HostState
from openkms.publisher import Publisher

from helpers import host_process, openkms_cmd

pytestmark = pytest.mark.e2e


def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(openkms_cmd(*args), capture_output=True, text=True, timeout=60)
    assert "Traceback" not in done.stderr
    assert (done.returncode == 0) is ok, done.stderr
    return done


def json_field(field: str, *args: str) -> str:
    return str(json.loads(run(*args, "--json").stdout)[field])


def mistype(text: str, group: int) -> str:
    groups = text.split()
    chunk = groups[group - 1]
    groups[group - 1] = chunk[:3] + str((int(chunk[3]) + 5) % 10) + chunk[4:]
    return " ".join(groups)


def test_a_host_activated_by_phone_activates_clients(tmp_path: Path) -> None:
    publisher = Publisher.init(tmp_path / "pub", "Phone Test")
    state = HostState(tmp_path / "host")
    state.install_key(str(publisher.issue_host_key("B")), publisher.trust())
    host = ("host", "--store", str(tmp_path / "host"))
    iid = json_field("installation_id", *host, "dti")
    assert len(iid.split()) == 11
    bad = run("publisher", "confirm", str(publisher.directory), mistype(iid, 4), ok=False)
    assert "0xE0040030" in bad.stderr and "group 4 is mistyped" in bad.stderr
    cid = json_field("confirmation_id", "publisher", "confirm", str(publisher.directory), iid)
    typo = run(*host, "atp", mistype(cid, 13), ok=False)
    assert "group 13 is mistyped" in typo.stderr
    assert "license group B" in run(*host, "atp", *cid.split()).stdout
    standard = next(p for p in publisher.trust().catalog.products if p.edition == "Standard")
    with host_process(tmp_path / "host") as served:
        for n in range(standard.n_policy):
            client = Client.open(
                tmp_path / f"c{n}", transport=TcpTransport(10.0), machine_name=f"s{n}"
            )
            client.install_key(standard.setup_key, publisher.trust())
            client.set_kms(served.address)
            outcome = client.activate()
        assert outcome.activated and outcome.license is not None
        assert outcome.license.licensed and outcome.license.ticket is not None
        assert outcome.license.ticket.certificate.group == "B"
    assert "Traceback" not in served.log()


def test_a_mak_client_activated_by_phone_is_licensed_on_the_mak_channel(tmp_path: Path) -> None:
    publisher = Publisher.init(tmp_path / "pub", "Phone Test")
    product = publisher.trust().catalog.products[0]
    issue = ("publisher", "issue-mak", str(publisher.directory), "--activations", "1")
    mak = run(*issue, "--product", product.activation_id).stdout.strip()
    stores = [tmp_path / "pc1", tmp_path / "pc2"]
    for store in stores:
        Client.open(store).install_key(mak, publisher.trust())
    client = ("client", "--store", str(stores[0]))
    iid = json_field("installation_id", *client, "dti")
    assert len(iid.split()) == 7
    bad = run("publisher", "confirm", str(publisher.directory), mistype(iid, 2), ok=False)
    assert "group 2 is mistyped" in bad.stderr
    cid = json_field("confirmation_id", "publisher", "confirm", str(publisher.directory), iid)
    typo = run("slmgr", "--store", str(stores[0]), "/atp", mistype(cid, 20), ok=False)
    assert "group 20 is mistyped" in typo.stderr
    other = run("client", "--store", str(stores[1]), "atp", cid, ok=False)  # another machine
    assert "0xE0040031" in other.stderr
    assert "activated (MAK)" in run(*client, "atp", cid).stdout
    dli = run(*client, "dli").stdout
    assert "License Status: Licensed" in dli and "VOLUME_MAK channel" in dli
    second = json_field("installation_id", "client", "--store", str(stores[1]), "dti")
    used_up = run("publisher", "confirm", str(publisher.directory), second, ok=False)
    assert "0xC004C008" in used_up.stderr  # a MAK for one machine
