"""A running host: state, store, service and listeners put together, with signals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from openkms._address import format_address
from openkms.core.codes import ResultCode
from openkms.core.host import HostInfo, HostSnapshot
from openkms.core.host_settings import HostSettings
from openkms.errors import KeyFormatError, OpenKMSError
from openkms.host.clock import ClockJump, ClockWatch, clock_jump_event
from openkms.host.config import HostConfig
from openkms.host.info import gather_host_info
from openkms.host.revocations import UpdateWatch, log_revoked
from openkms.host.sdnotify import notify
from openkms.host.server import HostServer
from openkms.host.service import HostService
from openkms.host.state import HostState
from openkms.i18n import _
from openkms.store import open_store  # re-exported: the host's store is the store's to decide
from openkms.store.base import HostStore
from openkms.store.lock import ServingHost, StoreLock, serving_host

if TYPE_CHECKING:
    from openkms.admin.config import AdminConfig
    from openkms.admin.lazy import LazyAdminServer

__all__ = ["HostAdminView", "HostApp", "open_store"]

log = logging.getLogger("openkms.host")


class HostAdminView:
    """The admin server's view of a running host (implements ``admin.host_view.HostView``)."""

    def __init__(self, state: HostState, store: HostStore, service: HostService) -> None:
        self._state = state
        self._store = store
        self._service = service

    @property
    def host_id(self) -> str:
        """The host's identifier, the key of its request counters."""
        return self._service.host_id

    def snapshot(self, now: int) -> HostSnapshot:
        """The store directory read now (blocking: the admin calls it in a thread)."""
        return self._state.snapshot(now)

    async def info(self, now: int) -> HostInfo:
        """The host's ``dlv`` data; the files are read in a worker thread."""
        snapshot = await asyncio.to_thread(self._state.snapshot, now)
        serving = await asyncio.to_thread(serving_host, snapshot.directory)
        listening = serving.listen if serving is not None else ()
        return await gather_host_info(snapshot, self._store, now, listening)

    async def update_settings(self, changes: Mapping[str, object]) -> HostSettings:
        """Validate and save ``changes`` in a worker thread, then hand them to the service."""
        updated = await asyncio.to_thread(lambda: self._state.update_settings(**changes))
        self._service.settings = updated
        return updated


class HostApp:
    """One host process: start, serve until stopped, stop gracefully."""

    def __init__(
        self,
        config: HostConfig,
        *,
        store: HostStore | None = None,
        clock: Callable[[], float] = time.time,
        state: HostState | None = None,
        admin: AdminConfig | None = None,
    ) -> None:
        self.config = config
        self.state = state if state is not None else HostState(config.store_dir)
        self.store = store if store is not None else open_store(config.store_dir, config.database)
        # Its own store directory: one host at a time, and no restore under it.
        self._lock = StoreLock(config.store_dir) if store is None else None
        self._clock = clock
        self.service: HostService | None = None
        self.server: HostServer | None = None
        self._stopping = asyncio.Event()
        self._settings_mtime = 0.0
        self.admin_config = admin
        self.admin: LazyAdminServer | None = None
        self.snapshot: HostSnapshot | None = None
        self.clock_jump: ClockJump | None = None  # the last jump of the clock seen serving

    async def start(self) -> list[tuple[str, int]]:
        """Read the store directory once, take its lock, open the store, bind the listeners."""
        snapshot = self.state.snapshot(int(self._clock()))
        if snapshot.host_key is None:
            raise KeyFormatError(
                _("No host key is installed in this store."),
                code=ResultCode.NO_PRODUCT_KEY,
                fix=_("Install the host key with 'openkms host --store DIR ipk KEY'."),
            )
        # Check the identity before opening the store: a missing host.key must not leave it open.
        private_key, host_id = snapshot.signing_key(), snapshot.identity()
        host_settings, activation = snapshot.settings, snapshot.activation
        if not activation.activated:
            log.warning("host not activated (%s): answering 0xC004F041", activation.problem)
        self.snapshot = snapshot
        if self._lock is not None:
            self._lock.acquire()
        try:
            await self.store.open()
        except BaseException:
            self._release_lock()
            raise
        self.service = HostService(
            store=self.store,
            activation=activation,
            private_key=private_key,
            host_settings=host_settings,
            host_id=host_id,
            clock=self._clock,
        )
        self.server = HostServer(self.config, self.service)
        await log_revoked(self.store, activation, int(self._clock()))
        try:
            addresses = await self.server.start(host_settings.port)
            if self.admin_config is not None:
                await self._start_admin(self.admin_config, self.service)
            self._announce(addresses)
        except BaseException:
            await self.server.close_listeners()
            await self.store.close()
            self._release_lock()
            raise
        return addresses

    def _announce(self, addresses: list[tuple[str, int]]) -> None:
        """Tell /readyz and ``dli`` (through the serve lock) where this host listens."""
        admin = self.admin.address if self.admin is not None else None
        if self.admin is not None:
            self.admin.set_listeners(addresses)
        if self._lock is not None:
            listen = [format_address(host, port) for host, port in addresses]
            shown = format_address(*admin) if admin is not None else None
            self._lock.publish(ServingHost(os.getpid(), listen, shown))

    async def _start_admin(self, config: AdminConfig, service: HostService) -> None:
        """The admin HTTP server in this event loop, with the request metrics hooked in."""
        # Imported here, not at the top, by a host that has an admin server; which loads
        # aiohttp only on its first connection (about 15 MiB of RSS: admin/lazy.py).
        from openkms.admin.lazy import LazyAdminServer  # noqa: PLC0415

        self.admin = LazyAdminServer(
            config, host=self.admin_view(service), store=self.store, clock=self._clock
        )
        service.on_request = self.admin.metrics.observe_request
        await self.admin.start()

    async def serve(self, on_ready: Callable[[list[tuple[str, int]]], None] | None = None) -> None:
        """Start, call ``on_ready`` with the bound addresses, serve until ``stop()``."""
        addresses = await self.start()
        poller: asyncio.Future[None] | None = None
        watcher: asyncio.Future[None] | None = None
        publisher: asyncio.Task[None] | None = None
        updates: asyncio.Future[None] | None = None
        try:
            if on_ready is not None:
                on_ready(addresses)
            notify("READY=1")
            poller = asyncio.ensure_future(self._poll_settings())
            watcher = asyncio.ensure_future(self._watch_clock())
            updates = asyncio.ensure_future(self.update_watch().run())
            publisher = self._start_dns_publisher(addresses)
            await self._stopping.wait()
        finally:
            for task in (poller, watcher, updates):
                if task is not None:
                    task.cancel()
            if publisher is not None:
                publisher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await publisher
            await self.shutdown()

    def _start_dns_publisher(self, addresses: list[tuple[str, int]]) -> asyncio.Task[None] | None:
        """Publish the SRV record now and every republish interval (never fails the host)."""
        if not self.config.dns_publishing:
            return None
        # Each cycle in a child process: this one never loads dnspython (docs/architecture.md).
        from openkms.host.dns_runner import ChildPublisher  # noqa: PLC0415

        publisher = ChildPublisher(self.state, self.store.log_event, addresses)
        return asyncio.ensure_future(publisher.run())

    def update_watch(self) -> UpdateWatch:
        """The watch that hands the service newer revocation lists and catalogs."""
        assert self.service is not None and self.snapshot is not None
        return UpdateWatch(
            state=self.state,
            service=self.service,
            store=self.store,
            private_key=self.snapshot.signing_key(),
            clock=self._clock,
            publisher_url=self.config.publisher_url,
            poll_seconds=self.config.settings_poll_seconds,
            fetch_seconds=self.config.publisher_fetch_seconds,
        )

    def admin_view(self, service: HostService) -> HostAdminView:
        """The host as its admin server sees it (the admin never imports ``host/``)."""
        return HostAdminView(self.state, self.store, service)

    def stop(self) -> None:
        """Ask a serving host to stop (safe to call from a signal handler)."""
        self._stopping.set()

    async def shutdown(self) -> None:
        """Graceful stop: listeners closed, in-flight requests answered, store closed."""
        notify("STOPPING=1")
        if self.admin is not None:
            await self.admin.stop()
        if self.server is not None:
            await self.server.stop()
        await self.store.close()
        self._release_lock()
        log.info("host stopped")

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.release()

    async def _watch_clock(self) -> None:
        """Log a jump of the host's clock as an event (``host events``, the admin's events)."""
        watch = ClockWatch(self._clock, time.monotonic)
        while True:
            await asyncio.sleep(self.config.clock_check_seconds)
            jump = watch.check()
            if jump is None:
                continue
            self.clock_jump = jump
            try:
                await self.store.log_event(clock_jump_event(jump))
            except OpenKMSError as exc:
                log.warning("the clock jump could not be recorded: %s", exc.message)

    async def _poll_settings(self) -> None:
        """Pick up sai/sri/sdns/cdns/spri/cpri made by another process while serving."""
        path = self.state.directory / "host.json"
        while True:
            await asyncio.sleep(self.config.settings_poll_seconds)
            try:
                mtime = path.stat().st_mtime
                if mtime != self._settings_mtime and self.service is not None:
                    self._settings_mtime = mtime
                    self.service.settings = self.state.settings
            except OSError:
                continue
            except OpenKMSError as exc:  # e.g. a hand-edited host.json: keep the last settings
                log.warning("settings not reloaded: %s", exc)

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT stop gracefully; a second SIGINT forces the exit."""
        loop = asyncio.get_running_loop()

        def first(signum: int) -> None:
            log.info("signal %d: stopping gracefully (Ctrl-C again to force)", signum)
            self.stop()
            loop.add_signal_handler(signal.SIGINT, _force)

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, first, signum)


def _force() -> None:
    raise SystemExit(130)
