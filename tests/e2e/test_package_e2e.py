"""The Debian package: built by scripts/build-deb, inspected, installed into a scratch root.

The scratch root is this machine's own file system under an overlay (an ``unshare``d mount
namespace, writes land in a temporary upper directory), entered with ``chroot``: ``dpkg -i``
runs the real maintainer scripts there (the ``openkms`` user is created, the store directory,
the unit enabled at boot) and nothing of it reaches this machine. That needs root with
CAP_SYS_ADMIN; without it those tests are skipped, the inspection tests still run.

Building takes minutes (a whole virtualenv): set OPENKMS_TEST_DEB=PATH to reuse a package
built from this tree.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
NEEDED = ("dpkg-deb", "dpkg")


def _run(*command: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package, built once for this module."""
    if any(shutil.which(tool) is None for tool in NEEDED):
        pytest.skip("dpkg-deb is not installed")
    if os.environ.get("OPENKMS_TEST_DEB"):
        return Path(os.environ["OPENKMS_TEST_DEB"])
    out = tmp_path_factory.mktemp("dist")
    result = _run(str(REPO / "scripts" / "build-deb"), "--out", str(out), timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    (built,) = out.glob("openkms_*.deb")
    return built


def test_the_package_is_named_and_depends_as_documented(deb: Path) -> None:
    info = _run("dpkg-deb", "--info", str(deb)).stdout
    version = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M)
    assert version is not None
    assert deb.name == f"openkms_{version.group(1)}_{_arch()}.deb"
    assert re.search(r"^ Depends: python3\.\d+, adduser \| passwd$", info, re.M), info
    assert "conffiles" in info
    for script in ("postinst", "prerm", "postrm"):
        assert script in info
    conffiles = _run("dpkg-deb", "--ctrl-tarfile", str(deb))
    assert conffiles.returncode == 0


def test_the_package_holds_the_venv_the_commands_the_unit_and_the_config(deb: Path) -> None:
    contents = _run("dpkg-deb", "--contents", str(deb)).stdout
    for path in (
        "./opt/openkms/bin/openkms",
        "./opt/openkms/pyvenv.cfg",
        "./etc/openkms/host.toml",
        "./lib/systemd/system/openkms.service",
        "./usr/share/doc/openkms/operations.md",
    ):
        assert f" {path}\n" in contents, path
    assert "./usr/bin/openkms -> /opt/openkms/bin/openkms" in contents
    assert "./usr/bin/slmgr -> /opt/openkms/bin/slmgr" in contents
    assert "/tmp/" not in contents  # nothing of the build directory leaked in
    assert "./var/lib/openkms" not in contents  # the store is made by postinst, kept on purge


def _arch() -> str:
    return _run("dpkg", "--print-architecture").stdout.strip()


class ScratchRoot:
    """This machine's root under an overlay, in a mount namespace of its own.

    One holder process keeps the namespace (and the one overlay mount) alive; every command
    enters it with ``nsenter``, so that they all see the same files and the same locks.
    """

    def __init__(self, base: Path) -> None:
        self.upper, self.work, self.merged = base / "upper", base / "work", base / "merged"
        for directory in (self.upper, self.work, self.merged):
            directory.mkdir()
        script = (
            'mount -t overlay overlay -o "lowerdir=/,upperdir=$1,workdir=$2" "$3" && '
            'mount --bind /proc "$3/proc" && mount --bind /dev "$3/dev" && '
            'echo mounted && exec chroot "$3" sleep infinity'
        )
        self.holder = subprocess.Popen(
            ["unshare", "--mount", "--", "sh", "-c", script, "sh",
             str(self.upper), str(self.work), str(self.merged)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.holder.stdout is not None
        if self.holder.stdout.readline() != "mounted\n":
            self.close()
            pytest.skip("cannot mount an overlay of / here")

    def close(self) -> None:
        """End the holder: the namespace and its mounts go with it."""
        self.holder.terminate()
        self.holder.wait(30)
        if self.holder.stdout is not None:
            self.holder.stdout.close()

    def command(self, *argv: str) -> list[str]:
        """``argv`` run as root inside the scratch root."""
        return ["nsenter", f"--target={self.holder.pid}", "--mount", "--root", "--wd", *argv]

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the scratch root and return its result."""
        return _run(*self.command(*argv), timeout=300)

    def file(self, path: str) -> Path:
        """Where a file the scratch root wrote lies on this machine (read it only)."""
        return self.upper / path.lstrip("/")


@pytest.fixture(scope="module")
def installed(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScratchRoot]:
    """The package installed with dpkg -i into a scratch root."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nsenter") is None:
        pytest.skip("installing into a scratch root needs root, unshare and nsenter")
    if _run("unshare", "--mount", "true").returncode != 0:
        pytest.skip("no mount namespaces here (CAP_SYS_ADMIN)")
    root = ScratchRoot(tmp_path_factory.mktemp("scratch-root"))
    try:
        shutil.copy(deb, root.merged.parent / "openkms.deb")
        copied = root.run("cp", str(root.merged.parent / "openkms.deb"), "/openkms.deb")
        assert copied.returncode == 0, copied.stderr
        result = root.run("dpkg", "-i", "/openkms.deb")
        assert result.returncode == 0, result.stdout + result.stderr
        yield root
    finally:
        root.close()


def test_dpkg_install_creates_the_user_the_store_and_enables_the_unit(
    installed: ScratchRoot,
) -> None:
    passwd = installed.file("/etc/passwd").read_text()
    entry = r"^openkms:x:(\d+):(\d+):[^:]*:/var/lib/openkms:/usr/sbin/nologin$"
    user = re.search(entry, passwd, re.M)
    assert user is not None, passwd
    assert int(user.group(1)) < 1000  # a system user
    store = installed.file("/var/lib/openkms").stat()
    assert oct(store.st_mode & 0o777) == "0o700"
    assert store.st_uid == int(user.group(1))
    config = installed.file("/etc/openkms/host.toml").stat()
    assert oct(config.st_mode & 0o777) == "0o640"
    wants = "/etc/systemd/system/multi-user.target.wants/openkms.service"
    if shutil.which("deb-systemd-helper"):
        assert installed.file(wants).is_symlink(), "the unit is not enabled at boot"
    assert _run("dpkg", "-s", "openkms").returncode != 0  # this machine's dpkg is untouched


def test_the_unit_passes_systemd_analyze_verify(installed: ScratchRoot) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    result = installed.run("systemd-analyze", "verify", "/lib/systemd/system/openkms.service")
    assert result.returncode == 0, result.stderr
    text = installed.run("cat", "/lib/systemd/system/openkms.service").stdout  # /lib: usrmerge
    for line in (
        "User=openkms",
        "Type=notify",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/openkms",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "Restart=on-failure",
        "WantedBy=multi-user.target",
        "ExecStart=/usr/bin/openkms host serve --config /etc/openkms/host.toml",
    ):
        assert f"\n{line}\n" in text, line


def test_the_packaged_openkms_prints_its_version(installed: ScratchRoot) -> None:
    result = installed.run("/usr/bin/openkms", "--version")
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"openkms, version \S+\n", result.stdout), result.stdout


def _as_openkms(*argv: str) -> tuple[str, ...]:
    return ("setpriv", "--reuid=openkms", "--regid=openkms", "--init-groups", "--", *argv)


def _openkms(root: ScratchRoot, *argv: str) -> str:
    """``openkms ARGV`` as the openkms user in the scratch root; its standard output."""
    result = root.run(*_as_openkms("/usr/bin/openkms", *argv))
    assert result.returncode == 0, f"{argv}: {result.stdout}{result.stderr}"
    return result.stdout


def _activate(root: ScratchRoot) -> None:
    """docs/operations.md, "Activating": host key, request, the publisher, certificate."""
    publisher = "/tmp/openkms-publisher"
    openkms = "/usr/bin/openkms"
    assert root.run(openkms, "publisher", "init", publisher).returncode == 0
    key = root.run(openkms, "publisher", "issue-host-key", publisher, "--group", "C")
    assert key.returncode == 0, key.stderr
    root.run("chmod", "0644", f"{publisher}/trust.json")
    store = ("host", "--store", "/var/lib/openkms")
    _openkms(root, *store, "ipk", key.stdout.strip(), "--trust", f"{publisher}/trust.json")
    _openkms(root, *store, "activation-request", "-o", "/var/lib/openkms/request.json")
    issued = root.run(
        openkms, "publisher", "activate-host", publisher, "/var/lib/openkms/request.json",
        "-o", "/tmp/certificate.json",
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    root.run("chmod", "0644", "/tmp/certificate.json")
    assert "Host activated" in _openkms(
        root, *store, "install-certificate", "/tmp/certificate.json"
    )


def _readiness(admin: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{admin}/readyz", timeout=10) as response:
        assert response.status == 200
        document: dict[str, object] = json.loads(response.read())
    return document


def test_the_packaged_host_activates_serves_and_is_backed_up_as_the_openkms_user(
    installed: ScratchRoot,
) -> None:
    _activate(installed)
    store = ("host", "--store", "/var/lib/openkms")
    notify_name = f"openkms-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind("\0" + notify_name)  # abstract: shared with the scratch root's processes
        notify.settimeout(60)
        serve = installed.command(
            *_as_openkms(
                "env", f"NOTIFY_SOCKET=@{notify_name}", "/usr/bin/openkms", "host", "serve",
                "--config", "/etc/openkms/host.toml", "--listen", "127.0.0.1:0",
                "--admin", "127.0.0.1:0", "--no-dns",
            )
        )  # fmt: skip
        process = subprocess.Popen(
            serve, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
        )  # fmt: skip
        try:
            assert notify.recv(256) == b"READY=1"
            assert process.stdout is not None
            lines = [process.stdout.readline(), process.stdout.readline()]
            port = int(lines[0].rsplit(":", 1)[1])
            admin = lines[1].split()[-1].rstrip("/")
            with urllib.request.urlopen(f"{admin}/healthz", timeout=10) as response:
                assert response.status == 200
            assert _readiness(admin)["ready"] is True
            assert f"Listening on Port: {port}" in _openkms(installed, *store, "dli")
            backup = _openkms(installed, *store, "backup", "-o", "/var/lib/openkms/backup.db")
            assert "Store backed up to /var/lib/openkms/backup.db" in backup
            refused = installed.run(
                *_as_openkms("/usr/bin/openkms", *store, "restore", "/var/lib/openkms/backup.db")
            )
            assert refused.returncode == 1 and "in use by a running host" in refused.stderr
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
        assert notify.recv(256) == b"STOPPING=1"
    assert process.returncode == 0, stderr
    assert "host stopped" in stderr
    restored = _openkms(installed, *store, "restore", "/var/lib/openkms/backup.db")
    assert "Store restored from /var/lib/openkms/backup.db" in restored
    database = installed.file("/var/lib/openkms/host.db")
    owner = re.search(r"^openkms:x:(\d+):", installed.file("/etc/passwd").read_text(), re.M)
    assert owner is not None and database.stat().st_uid == int(owner.group(1))


def test_purge_keeps_the_store_unless_asked(installed: ScratchRoot) -> None:
    marked = installed.run("sh", "-c", "echo client records > /var/lib/openkms/marker")
    assert marked.returncode == 0, marked.stderr
    result = installed.run("dpkg", "--purge", "openkms")
    assert result.returncode == 0, result.stderr
    assert "kept the store /var/lib/openkms" in result.stdout
    assert installed.file("/var/lib/openkms/marker").exists()
    assert not installed.file("/opt/openkms/bin/openkms").exists()
    assert not installed.file("/etc/openkms/host.toml").exists()
    reinstall = installed.run("dpkg", "-i", "/openkms.deb")
    assert reinstall.returncode == 0, reinstall.stderr
    asked = installed.run("env", "OPENKMS_PURGE_STORE=yes", "dpkg", "--purge", "openkms")
    assert asked.returncode == 0, asked.stderr
    assert not installed.file("/var/lib/openkms/marker").exists()
