"""Root key rotation end to end: real ``openkms`` processes for every step an operator takes.

The publisher rotates its root key (``publisher rotate-root``); a host takes the new trust
and keeps serving with its old certificate; a client pinned to the old key renews and ends
pinned to the new key; the host re-activates and gets a certificate under the new key; a
forged successor and hostile trust bytes are refused with a result code.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from openkms.client.api import Client
from openkms.client.transport import TcpTransport
from openkms.core.codes import ResultCode
from openkms.core.rotation import ROTATION_DOMAIN
from openkms.core.signing import sign
from openkms.core.trust import Trust

from helpers import Site, host_process, make_site, openkms_cmd

pytestmark = pytest.mark.e2e

MISMATCH = ResultCode.PUBLISHER_MISMATCH.hex


def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(openkms_cmd(*args), capture_output=True, text=True, timeout=60)
    assert "Traceback" not in done.stderr + done.stdout
    assert (done.returncode == 0) is ok, done.stderr
    return done


def _fill(tmp_path: Path, site: Site, address: str, trust: Path, count: int) -> None:
    """``count`` other machines activate, so the host's count reaches the N-policy."""
    for n in range(count):
        client = Client.open(
            tmp_path / f"other{n}", transport=TcpTransport(10.0), machine_name=f"o{n}"
        )
        client.install_key(site.product("Standard").setup_key, Trust.from_json(trust.read_bytes()))
        client.set_kms(address)
        client.activate()


def _dli(client: tuple[str, ...]) -> dict[str, object]:
    return dict(json.loads(run(*client, "dli", "--json").stdout))


def _forged(rotated: Path, out: Path) -> Path:
    """The rotated trust.json with its transition signed by a key unrelated to the publisher."""
    raw = json.loads(rotated.read_text())
    link = raw["rotations"][0]
    body = msgspec.json.decode(json.dumps(link["body"]).encode(), type=bytes)
    forged = sign(Ed25519PrivateKey.generate(), ROTATION_DOMAIN, body).signature
    link["signature"] = json.loads(msgspec.json.encode(forged))
    out.write_text(json.dumps(raw))
    return out


def test_a_rotation_reaches_a_serving_host_and_a_client_pinned_to_the_old_key(
    tmp_path: Path,
) -> None:
    site = make_site(tmp_path)
    pub = str(site.publisher.directory)
    old_trust = tmp_path / "trust-old.json"
    old_trust.write_bytes((site.publisher.directory / "trust.json").read_bytes())
    old_key = run("publisher", "key", pub).stdout.strip()
    installed = site.host_state.host_key()
    assert installed is not None and installed.key is not None
    host_key = installed.key
    host = ("host", "--store", str(site.host_dir))
    client = ("client", "--store", str(tmp_path / "pc"))
    setup = site.product("Standard").setup_key

    with host_process(site.host_dir) as served:
        _fill(tmp_path, site, served.address, old_trust, 4)
        run(*client, "ipk", setup, "--trust", str(old_trust))
        run(*client, "skms", served.address)
        run(*client, "ato")
        before = _dli(client)
        assert before["publisher_key"] == old_key

        rotated = json.loads(run("publisher", "rotate-root", pub, "--json").stdout)
        new_key = rotated["publisher_key"]
        assert rotated["previous_key"] == old_key != new_key
        new_trust = Path(rotated["trust"])

        # The running host takes the new trust and keeps serving with its old certificate.
        run(*host, "ipk", str(host_key), "--trust", str(new_trust))
        # The client takes it too, renews, and ends pinned to the new key.
        run(*client, "ipk", setup, "--trust", str(new_trust))
        assert "activated" in run(*client, "ato").stdout.lower()
        after = _dli(client)
        assert after["publisher_key"] == new_key
        assert after["license_status"] == before["license_status"] == "Licensed"

        # The document from before the rotation is refused from now on.
        refused = run(*client, "ipk", setup, "--trust", str(old_trust), ok=False)
        assert MISMATCH in refused.stderr
        refused = run(*host, "ipk", str(host_key), "--trust", str(old_trust), ok=False)
        assert MISMATCH in refused.stderr

    # A restarted host reads the new trust: its old certificate verifies under the retired key.
    with host_process(site.host_dir) as served:
        run(*client, "skms", served.address)
        assert "activated" in run(*client, "ato").stdout.lower()

    # Re-activation: a certificate under the new key, the trust from the certificate file.
    request, cert = tmp_path / "req.json", tmp_path / "cert.json"
    run(*host, "activation-request", "-o", str(request))
    run("publisher", "activate-host", pub, str(request), "-o", str(cert))
    run(*host, "install-certificate", str(cert))
    with host_process(site.host_dir) as served:
        run(*client, "skms", served.address)
        assert "activated" in run(*client, "ato").stdout.lower()
        assert "Traceback" not in served.log()
    license = Client.open(tmp_path / "pc", publisher_key=old_key).license()
    assert license.licensed and license.ticket is not None
    assert license.ticket.certificate.issued_at >= rotated_at(new_trust) - 300


def rotated_at(trust_file: Path) -> int:
    """The time of the last transition of a trust file."""
    return Trust.from_json(trust_file.read_bytes()).transitions[-1].at


def test_a_forged_successor_and_hostile_trust_bytes_are_refused(tmp_path: Path) -> None:
    site = make_site(tmp_path, activate=False)
    pub = str(site.publisher.directory)
    old_trust = tmp_path / "trust-old.json"
    old_trust.write_bytes((site.publisher.directory / "trust.json").read_bytes())
    client = ("client", "--store", str(tmp_path / "pc"))
    setup = site.product("Standard").setup_key
    run(*client, "ipk", setup, "--trust", str(old_trust))
    run("publisher", "rotate-root", pub)
    rotated = site.publisher.directory / "trust.json"

    forged = _forged(rotated, tmp_path / "forged.json")
    refused = run(*client, "ipk", setup, "--trust", str(forged), ok=False)
    assert MISMATCH in refused.stderr and "transition 1" in refused.stderr
    other = tmp_path / "other-pub"
    run("publisher", "init", str(other), "--name", "Unrelated")
    refused = run(*client, "ipk", setup, "--trust", str(other / "trust.json"), ok=False)
    assert MISMATCH in refused.stderr

    data = rotated.read_bytes()
    hostile = [b"", b"{}", data[: len(data) // 2], data.replace(b'"rotations"', b'"rotatione"')]
    zeroed = json.loads(data)
    zeroed["rotations"][0]["countersignature"] = "A" * 86 + "=="
    hostile.append(json.dumps(zeroed).encode())
    hostile.append(json.dumps({**json.loads(data), "rotations": [[1, 2, 3]]}).encode())
    hostile.append(json.dumps({**json.loads(data), "rotations": "x" * 100_000}).encode())
    for n, document in enumerate(hostile):
        path = tmp_path / f"hostile{n}.json"
        path.write_bytes(document)
        done = run(*client, "ipk", setup, "--trust", str(path), ok=False)
        assert done.stderr.startswith("Error: 0x"), (n, done.stderr)
    # The genuine rotated document is still accepted after all that.
    run(*client, "ipk", setup, "--trust", str(rotated))
