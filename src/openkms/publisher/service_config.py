"""How the publisher's activation service runs (no aiohttp here: every command reads it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from openkms.core.publisher_api import MAX_REQUEST_BYTES

__all__ = ["DEFAULT_PORT", "ServiceConfig"]

DEFAULT_PORT: Final = 8480


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """How the service runs: where it listens, its TLS files, its limits, its proxies.

    Against a hostile network (``docs/publisher.md``, "Limits"): at most
    ``max_connections`` connections in all and ``max_connections_per_address`` from one
    address (trusted proxies count only in the total); a request head within
    ``header_timeout`` seconds, the next one within ``keepalive_timeout`` of a response; per
    client address ``rate_limit`` requests a second with bursts of ``rate_burst`` (0: off).
    """

    directory: Path
    listen: tuple[str, int] = ("127.0.0.1", DEFAULT_PORT)
    database: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    trusted_proxies: tuple[str, ...] = ()
    request_timeout: float = 15.0
    max_body: int = MAX_REQUEST_BYTES
    shutdown_timeout: float = 10.0
    max_connections: int = 1024
    max_connections_per_address: int = 64
    header_timeout: float = 10.0
    keepalive_timeout: float = 15.0
    rate_limit: float = 20.0
    rate_burst: int = 100
