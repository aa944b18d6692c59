"""The host's configuration, resolved once and passed down."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from openkms.core.codes import ResultCode
from openkms.errors import OpenKMSError

__all__ = ["HostConfig", "parse_address"]


@dataclass(frozen=True, slots=True)
class HostConfig:
    """Everything ``openkms host serve`` needs to run."""

    store_dir: Path
    listen: tuple[tuple[str, int], ...] = ()
    machine_name: str = socket.gethostname()
    max_connections: int = 10_000
    idle_timeout: float = 10.0
    shutdown_timeout: float = 10.0
    max_pipelined: int = 32
    settings_poll_seconds: float = 5.0
    dns_publishing: bool = True  # False: never publish in DNS this run (tests, --no-dns)

    def listeners(self, default_port: int) -> tuple[tuple[str, int], ...]:
        """The addresses to bind: the explicit ones, else 0.0.0.0 and [::] on the set port."""
        if self.listen:
            return self.listen
        return (("0.0.0.0", default_port), ("::", default_port))  # noqa: S104 - a server


def parse_address(text: str, default_port: int) -> tuple[str, int]:
    """``HOST[:PORT]``, ``[IPv6]:PORT`` or a bare IPv6 address -> (host, port)."""
    text = text.strip()
    host, port_text = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise _bad(text)
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise _bad(text)
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not host:
        raise _bad(text)
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise _bad(text)
    return host, int(port_text)


def _bad(text: str) -> OpenKMSError:
    return OpenKMSError(
        f"{text!r} is not an address: use HOST, HOST:PORT or [IPv6]:PORT",
        code=ResultCode.INVALID_ARGUMENT,
    )


def format_address(host: str, port: int) -> str:
    """(host, port) -> ``HOST:PORT`` or ``[IPv6]:PORT``."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
