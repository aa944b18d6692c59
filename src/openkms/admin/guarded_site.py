"""``web.TCPSite`` with its connections passing through a ``http_guard.ConnectionGuard``.

Apart from ``http_guard`` (which imports no aiohttp) so that the serving host's lazy admin
listener (``admin.lazy``) can guard its connections before aiohttp is loaded.
"""

from __future__ import annotations

import asyncio
import ssl

from aiohttp import web

from openkms.admin.http_guard import ConnectionGuard

__all__ = ["GuardedSite"]


class GuardedSite(web.BaseSite):
    """``web.TCPSite`` whose connections pass through a :class:`ConnectionGuard`."""

    __slots__ = ("_guard", "_host", "_port", "_reuse_address")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        guard: ConnectionGuard,
        *,
        ssl_context: ssl.SSLContext | None = None,
        backlog: int = 128,
        reuse_address: bool | None = None,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._host = host
        self._port = port
        self._guard = guard
        self._reuse_address = reuse_address

    @property
    def name(self) -> str:
        """The site's URL, as aiohttp names sites."""
        scheme = "https" if self._ssl_context else "http"
        shown = f"[{self._host}]" if ":" in self._host else self._host
        return f"{scheme}://{shown}:{self._port}"

    async def start(self) -> None:
        """Bind and serve through the guard."""
        await super().start()
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._guard.factory(server),
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            ssl_handshake_timeout=self._guard.limits.header_timeout if self._ssl_context else None,
        )
