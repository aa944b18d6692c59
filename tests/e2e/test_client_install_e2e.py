"""A client application installs only the client: ``pip install openkms`` without extras.

A fresh venv gets the project's base dependencies (``project.dependencies`` of pyproject.toml,
installed by pip from the machine's usual index) and the package source, nothing else. In it,
the public client API activates against a real host started from the development venv and
verifies its ticket offline; the host stack (click, aiohttp, uvloop, evtx) is absent,
and the ``openkms`` command says which extra to install instead of raising a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

from helpers import Site, host_process

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
HOST_STACK = ("click", "aiohttp", "uvloop", "evtx")

# Runs inside the client-only venv: five servers reach the count of 5, the fifth is
# activated and its license verifies offline.
CLIENT_APP = """
import importlib.util, json, sys
from pathlib import Path
from openkms import Client, Trust

trust_file, key, address, root, stack = sys.argv[1:6]
host_stack = stack.split(",")
trust = Trust.from_json(Path(trust_file).read_bytes())
activated = []
for i in range(5):
    client = Client.open(Path(root) / f"app{i}", machine_name=f"srv{i}")
    client.install_key(key, trust)
    client.set_kms(address)
    activated.append(client.activate().activated)
license = client.license()
print(json.dumps({
    "activated": activated,
    "licensed": license.licensed,
    "state": license.state.name,
    "host_stack": [m for m in host_stack if importlib.util.find_spec(m) is not None],
    "loaded": sorted({m.split(".")[0] for m in sys.modules} & set(host_stack)),
}))
"""


def _client_dependencies() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dependencies: list[str] = project["dependencies"]
    return dependencies


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with the package source and only its base dependencies; its python."""
    directory = tmp_path_factory.mktemp("client-venv")
    venv.EnvBuilder(with_pip=False).create(directory)
    python = directory / "bin" / "python"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"),
            *_client_dependencies(),
        ],
        check=True,
        capture_output=True,
    )
    site_packages = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site_packages) / "openkms-src.pth").write_text(f"{ROOT / 'src'}\n")
    return python


def test_the_base_dependencies_carry_no_host_stack() -> None:
    names = " ".join(_client_dependencies()).lower()
    assert not [m for m in ("click", "aiohttp", "uvloop", "evtx") if m in names]


def test_a_client_only_install_activates_and_verifies_its_ticket(
    client_venv: Path, site: Site, tmp_path: Path
) -> None:
    trust = site.publisher.directory / "trust.json"
    key = site.product("Standard").setup_key
    with host_process(site.host_dir) as host:
        run = subprocess.run(
            [
                *(str(client_venv), "-c", CLIENT_APP),
                *(str(trust), key, host.address, str(tmp_path), ",".join(HOST_STACK)),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["activated"] == [False, False, False, False, True]
    assert result["licensed"] is True
    assert result["state"] == "LICENSED"
    assert result["host_stack"] == []
    assert result["loaded"] == []


def test_the_command_line_names_the_extra_it_needs(client_venv: Path) -> None:
    run = subprocess.run(
        [str(client_venv), "-m", "openkms", "--help"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 1
    assert "pip install 'openkms[host]'" in run.stderr
    assert "Traceback" not in run.stderr
