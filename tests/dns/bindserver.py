"""A real BIND9 (``named -g``) on a free loopback port, with zones for the DNS tests.

Zones:
    openkms.test   updates allowed with the TSIG key ``openkms-key`` (hmac-sha256)
    branch.test    the same (a second domain for the publish list)
    refuse.test    no ``allow-update``: every update is REFUSED

Started by the ``bind`` fixture of ``conftest.py``.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from openkms.dns.srv import DnsServer
from openkms.dns.update import TsigKey
from orphans import die_with_parent

KEY_NAME = "openkms-key"
UPDATABLE = ("openkms.test", "branch.test")
REFUSING = "refuse.test"


@dataclass
class Bind:
    """A running ``named``: where it listens, its key and its directory."""

    process: subprocess.Popen[bytes]
    port: int
    directory: Path
    key: TsigKey
    key_file: Path

    @property
    def server(self) -> DnsServer:
        """The server as the library takes it."""
        return DnsServer("127.0.0.1", self.port)

    @property
    def address(self) -> str:
        """ADDR:PORT as the CLI takes it."""
        return f"127.0.0.1:{self.port}"

    def query(self, name: str, rdtype: str = "SRV") -> list[str]:
        """The records of ``name`` (like ``dig @server name SRV +short``)."""
        query = dns.message.make_query(name, dns.rdatatype.from_text(rdtype))
        response = dns.query.udp(query, "127.0.0.1", timeout=2.0, port=self.port)
        return sorted(rd.to_text() for rrset in response.answer for rd in rrset)

    def log(self) -> str:
        """What named wrote so far."""
        return (self.directory / "named.log").read_text(errors="replace")


def _named() -> str | None:
    return shutil.which("named") or next(
        (p for p in ("/usr/sbin/named", "/usr/local/sbin/named") if os.path.exists(p)), None
    )


def _zone_file(zone: str) -> str:
    return (
        "$TTL 300\n"
        f"@ IN SOA ns.{zone}. admin.{zone}. 1 3600 600 86400 60\n"
        f"@ IN NS ns.{zone}.\n"
        "ns IN A 127.0.0.1\n"
    )


def _config(directory: Path, port: int, secret: str) -> str:
    zones = [
        f'zone "{z}" {{ type primary; file "{directory}/{z}.zone"; '
        f'allow-update {{ key "{KEY_NAME}"; }}; }};'
        for z in UPDATABLE
    ]
    zones.append(f'zone "{REFUSING}" {{ type primary; file "{directory}/{REFUSING}.zone"; }};')
    return "\n".join(
        [
            f'key "{KEY_NAME}" {{ algorithm hmac-sha256; secret "{secret}"; }};',
            "options {",
            f'  directory "{directory}";',
            f'  pid-file "{directory}/named.pid";',
            f'  session-keyfile "{directory}/session.key";',
            f'  managed-keys-directory "{directory}";',
            f"  listen-on port {port} {{ 127.0.0.1; }};",
            "  listen-on-v6 { none; };",
            "  recursion no;",
            "  dnssec-validation no;",
            "  notify no;",
            "};",
            "controls { };",
            *zones,
            "",
        ]
    )


def _free_port() -> int:
    """A loopback port free for both UDP and TCP (named needs both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port: int = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no loopback port free for both UDP and TCP")


def _answers_tcp(port: int) -> bool:
    query = dns.message.make_query(UPDATABLE[0], dns.rdatatype.SOA)
    try:
        dns.query.tcp(query, "127.0.0.1", port=port, timeout=1.0)
    except (OSError, dns.exception.DNSException):
        return False
    return True


def _ready(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> bool:
    """Wait until named answers an SOA query; False if it exited (e.g. port busy)."""
    deadline = time.monotonic() + timeout
    query = dns.message.make_query(UPDATABLE[0], dns.rdatatype.SOA)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            response = dns.query.udp(query, "127.0.0.1", timeout=0.2, port=port)
        except (dns.exception.Timeout, OSError):
            continue
        if response.rcode() == dns.rcode.NOERROR:
            return True
        time.sleep(0.02)
    raise TimeoutError(f"named on port {port} not ready after {timeout}s")


def _start(named: str, directory: Path, secret: str) -> tuple[subprocess.Popen[bytes], int]:
    for _ in range(5):
        port = _free_port()
        conf = directory / "named.conf"
        conf.write_text(_config(directory, port, secret))
        subprocess.run(["named-checkconf", "-z", str(conf)], check=True, capture_output=True)
        with (directory / "named.log").open("ab") as log:
            # named -g logs to stderr: into a file, never an unread pipe (it would fill up).
            process = subprocess.Popen(
                [named, "-g", "-4", "-n", "1", "-c", str(conf)],
                stdout=log,
                stderr=log,
                preexec_fn=die_with_parent,
            )
        if _ready(port, process) and _answers_tcp(port):
            return process, port
        # Port taken meanwhile (UDP or TCP): named exited or runs without TCP; retry.
        process.terminate()
        process.wait(5)
    raise RuntimeError(f"named did not start: {(directory / 'named.log').read_text()}")


def start_bind(directory: Path) -> Bind:
    """Write the zones, key and config into ``directory`` and start named there."""
    named = _named()
    if named is None:
        raise FileNotFoundError("named")
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    for zone in (*UPDATABLE, REFUSING):
        (directory / f"{zone}.zone").write_text(_zone_file(zone))
    key_file = directory / "openkms.key"
    key_file.write_text(
        f'key "{KEY_NAME}" {{\n\talgorithm hmac-sha256;\n\tsecret "{secret}";\n}};\n'
    )
    process, port = _start(named, directory, secret)
    return Bind(process, port, directory, TsigKey(KEY_NAME, secret), key_file)


def stop_bind(server: Bind) -> None:
    """SIGTERM, then kill if it does not stop."""
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def named_installed() -> bool:
    """True when a named binary is available."""
    return _named() is not None
