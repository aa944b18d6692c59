"""``HOST[:PORT]`` addresses as slmgr writes them, shared by the host, clients, DNS and doctor."""

from __future__ import annotations

from openkms.core.codes import ResultCode
from openkms.errors import OpenKMSError
from openkms.i18n import _

__all__ = ["format_address", "parse_address"]


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
        _("{text!r} is not an address: use HOST, HOST:PORT or [IPv6]:PORT").format(text=text),
        code=ResultCode.INVALID_ARGUMENT,
    )


def format_address(host: str, port: int) -> str:
    """(host, port) -> ``HOST:PORT`` or ``[IPv6]:PORT``."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
