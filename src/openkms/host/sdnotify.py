"""Readiness for systemd (``Type=notify``): a datagram to ``$NOTIFY_SOCKET``, no dependency."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

__all__ = ["notify"]

log = logging.getLogger("openkms.host")


def notify(state: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``state`` (``READY=1``, ``STOPPING=1``, ``STATUS=...``) to the service manager.

    Returns False, doing nothing, when not started by systemd with ``Type=notify``; a socket
    error is logged, never raised (readiness must not stop the host).
    """
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET", "")
    if not address or address[0] not in "/@":
        return False
    target = "\0" + address[1:] if address[0] == "@" else address  # '@': abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(target)
            sock.sendall(state.encode("utf-8"))
    except OSError as exc:
        log.warning("cannot notify the service manager at %s: %s", address, exc)
        return False
    return True
