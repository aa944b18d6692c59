"""The client library: what the CLI uses and what an application embeds.

::

    client = Client.open(Path("/var/lib/myapp/license"), publisher_key="okpk1:...")
    client.install_key("XXXXX-XXXXX-XXXXX-XXXXX-XXXXX", trust=Trust.from_json(data))
    outcome = client.activate()          # one attempt against the KMS host(s)
    license = client.license()           # verified offline: state, time left, ticket
    if license.state is LicenseState.NOTIFICATION: ...

Each operation reads ``client.json`` and verifies ``trust.json`` once
(:class:`~openkms.client.snapshot.ClientSnapshot`) and passes them down; ``ato`` is an
:class:`~openkms.client.attempt.ActivationAttempt` on that snapshot.

``publisher_key`` pins the publisher (``openkms publisher key DIR`` prints it): a trust
document, catalog, certificate or ticket chained to any other key never licenses. Timers run
on the trusted time (:mod:`openkms.client.timekeeping`) and the state is sealed
(:mod:`openkms.client.seal`). ``read_only=True`` (the doctor, support bundles,
``client --read-only``) evaluates the licence without ever writing in the directory.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from openkms._address import format_address, parse_address
from openkms.client.attempt import ActivationAttempt
from openkms.client.events import ClientEventLog
from openkms.client.mak import MakActivation, product_for_mak
from openkms.client.phone import clear_mak, confirm_phone, installation_id, mak_reference
from openkms.client.records import AttemptOutcome, HostAttempt, License
from openkms.client.snapshot import ClientSnapshot, pinned_key
from openkms.client.state import (
    ClientState,
    load_state,
    new_cmid,
    save_state,
    save_trust,
)
from openkms.client.timekeeping import (
    TimeReading,
    raise_trusted_time,
    read_time,
    record_reading,
)
from openkms.client.transport import TcpTransport, Transport
from openkms.core import settings
from openkms.core.catalog import Product
from openkms.core.codes import ResultCode
from openkms.core.keys import KeyKind, ProductKey
from openkms.core.phone import InstallationId
from openkms.core.trust import Trust, parse_publisher_key
from openkms.dns.locator import Locator, NoLocator
from openkms.errors import KeyFormatError, OpenKMSError, SignatureError, StateError
from openkms.i18n import _

__all__ = ["AttemptOutcome", "Client", "HostAttempt", "License"]

log = logging.getLogger("openkms.client")


@dataclass(frozen=True, slots=True)
class Client:
    """A client store directory and the operations of ``slmgr`` on it."""

    directory: Path
    clock: Callable[[], float]
    transport: Transport
    locator: Locator
    machine_name: str
    search_domains: tuple[str, ...] = ()
    service: str | None = None  # the SRV service; None: the catalog's
    publisher_key: bytes | None = None  # the pinned publisher; None: the store's own pin
    publisher_url: str | None = None  # the MAK service; None: the catalog's
    read_only: bool = False  # never write in the directory (nor log a client event)

    @classmethod
    def open(
        cls,
        directory: Path,
        *,
        clock: Callable[[], float] = time.time,
        transport: Transport | None = None,
        locator: Locator | None = None,
        machine_name: str | None = None,
        search_domains: tuple[str, ...] = (),
        service: str | None = None,
        publisher_key: str | None = None,
        publisher_url: str | None = None,
        read_only: bool = False,
    ) -> Client:
        """Open (or prepare) a client store; fails early on a corrupt state file.

        ``publisher_key`` (``okpk1:...``, as ``openkms publisher key DIR`` prints it) pins the
        publisher: give it in every application. Without it the store trusts the publisher
        it was pinned to at its first ``ipk``. ``transport`` defaults to TCP, ``locator``
        to none (no DNS discovery: ``skms`` or the cached host only), ``machine_name`` to
        this machine's host name and ``service`` to the SRV service named in the catalog.
        ``publisher_url`` is the publisher's service a MAK activates with (default: the
        catalog's).
        ``read_only`` opens the store only to read: the licence is evaluated at the trusted
        time without recording it, and every operation that would write raises StateError.
        """
        client = cls(
            directory,
            clock=clock,
            transport=transport if transport is not None else TcpTransport(),
            locator=locator if locator is not None else NoLocator(),
            machine_name=machine_name or socket.gethostname(),
            search_domains=search_domains,
            service=service,
            publisher_key=parse_publisher_key(publisher_key) if publisher_key else None,
            publisher_url=publisher_url,
            read_only=read_only,
        )
        load_state(directory, quiet=True)  # fail early; the operations warn of tampering
        return client

    # -- reading -------------------------------------------------------------------------

    def snapshot(self) -> ClientSnapshot:
        """The state and the verified trust, read once, for one operation."""
        return ClientSnapshot.load(self.directory, self.publisher_key)

    def state(self) -> ClientState:
        """The persisted state."""
        return load_state(self.directory)

    def trust(self) -> Trust | None:
        """The pinned publisher trust, if installed (None also when it is another's)."""
        return self.snapshot().trust

    def product(self) -> Product | None:
        """The installed product edition."""
        return self.snapshot().product

    def license(self) -> License:
        """The license at the trusted time, with the stored ticket verified offline.

        Also raises the sealed high-water mark of time when the clock has moved on, so
        that setting the clock back later gains nothing (best effort on a read-only store).
        """
        snapshot = self.snapshot()
        reading = self.observe_time(snapshot)
        return snapshot.license(reading.trusted)

    def observe_time(self, snapshot: ClientSnapshot) -> TimeReading:
        """Read the clock against ``snapshot``'s trusted time; save and log what changed
        (only read when the client is read-only)."""
        reading = read_time(snapshot.state, self._now())
        if self.read_only:
            return reading
        changed, events = record_reading(snapshot.state, reading)
        try:
            if events:
                self.events.append(*events)
            if changed:
                self._save(snapshot.state)
        except OpenKMSError as exc:  # a store this process may read but not write
            log.warning("cannot record the trusted time: %s", exc)
        return reading

    @property
    def events(self) -> ClientEventLog:
        """The client's event log."""
        return ClientEventLog(self.directory / "events.jsonl")

    def _now(self) -> int:
        return int(self.clock())

    def _writable(self) -> None:
        if self.read_only:
            raise StateError(
                _("the client store {directory} is open only to read").format(
                    directory=self.directory
                ),
                code=ResultCode.ACCESS_DENIED,
                fix=_("Run the command without --read-only (Client.open(read_only=False))."),
            )

    def _save(self, state: ClientState) -> None:
        self._writable()
        raise_trusted_time(state, self._now())  # every save carries the high-water mark
        save_state(self.directory, state)

    # -- keys ----------------------------------------------------------------------------

    def install_key(self, text: str, trust: Trust | None = None) -> Product:
        """``ipk``: install a setup key or a MAK (pins ``trust`` the first time)."""
        self._writable()
        key = ProductKey.parse(text)
        if key.kind is KeyKind.HOST:
            raise KeyFormatError(
                _("This is a host key: a client needs its edition's setup key."),
                fix=_(
                    "Install the setup key from 'openkms vendor setup-keys' (a host key on a "
                    "client is a known mistake)."
                ),
            )
        snapshot = self.snapshot()
        if trust is not None:
            snapshot = self._pin(snapshot, trust)
        catalog = snapshot.require_trust().catalog
        if key.kind is KeyKind.MAK:
            product: Product | None = product_for_mak(catalog, key)
        else:
            product = catalog.product_for_setup_key(key)
        if product is None:
            raise KeyFormatError(_("This setup key is not in the publisher's catalog."))
        state = snapshot.state
        installed = mak_reference(state)
        if state.activation_id != product.activation_id or (installed is not None) != (
            key.kind is KeyKind.MAK
        ):
            state.ticket = None  # another product, or another channel (setup key / MAK)
        if state.setup_key != key.symbols and (installed is None or installed.key_id != key.key_id):
            state.phone_ticket = None  # another key (the same one again after cpky: kept)
        if not state.grace_started_at:
            # The grace starts at the first key of the store; only rearm restarts it.
            state.grace_started_at = read_time(state, self._now()).trusted
        state.setup_key, state.partial_key = key.symbols, key.partial
        state.cleared_mak = None
        state.activation_id = product.activation_id
        self._save(state)
        return product

    def _pin(self, snapshot: ClientSnapshot, trust: Trust) -> ClientSnapshot:
        """Install ``trust`` if it is the pinned publisher's and newer than the installed one."""
        expected = pinned_key(snapshot.state, self.publisher_key)
        if expected is not None:
            by = "the application" if self.publisher_key is not None else "this store"
            try:
                trust.require_publisher(expected, by)
            except SignatureError as exc:
                raise SignatureError(
                    exc.message,
                    code=exc.code,
                    fix=_(
                        "Use the trust.json of the pinned publisher. A store serves one "
                        "publisher: for another, use another store directory (this one keeps "
                        "{directory})."
                    ).format(directory=self.directory / "trust.json"),
                ) from None
        if snapshot.trust is None or trust.check_newer_than(snapshot.trust):
            save_trust(self.directory, trust)
        snapshot.state.publisher_key = trust.publisher_key_text
        return ClientSnapshot.of(snapshot.state, trust, self.publisher_key)

    def uninstall_key(self) -> None:
        """``upk``: remove the key and the activation."""
        state = self.state()
        state.setup_key = state.partial_key = state.cleared_mak = None
        state.activation_id = None
        state.ticket = state.phone_ticket = None
        self._save(state)

    def clear_key_text(self) -> None:
        """``cpky``: remove the key's text from client.json; the product, the partial key
        and the activation stay. OpenKMSError (0xC004F014) when no key is installed."""
        state = self.state()
        if state.activation_id is None:
            raise OpenKMSError(code=ResultCode.NO_PRODUCT_KEY)
        if state.setup_key is not None:
            key = ProductKey(state.setup_key)
            state.partial_key = key.partial
            state.cleared_mak = clear_mak(key) if key.kind is KeyKind.MAK else None
        state.setup_key = None
        self._save(state)

    def rearm(self) -> None:
        """``rearm``: new CMID, grace restarted, activation cleared (limited)."""
        state = self.state()
        if state.rearms_used >= settings.MAX_REARMS:
            raise OpenKMSError(code=ResultCode.MAX_REARMS_EXCEEDED)
        state.rearms_used += 1
        state.cmid = new_cmid()
        state.ticket = state.phone_ticket = None
        state.grace_started_at = read_time(state, self._now()).trusted
        state.cached_host = state.cached_address = None
        self._save(state)

    # -- phone activation (client/phone.py) ---------------------------------------------

    def installation_id(self) -> InstallationId:
        """``dti``: the installation ID to read to the publisher (reads only; needs a MAK)."""
        state = self.state()
        return installation_id(state, read_time(state, self._now()).trusted)

    def install_confirmation(self, text: str) -> License:
        """``atp``: verify the confirmation ID the publisher read back and store it."""
        snapshot = self.snapshot()
        reading = self.observe_time(snapshot)
        confirm_phone(snapshot.state, snapshot.require_trust(), text, reading.trusted)
        self._save(snapshot.state)
        return snapshot.license(reading.trusted)

    # -- KMS host settings ---------------------------------------------------------------

    def set_kms(self, address: str | None) -> None:
        """``skms HOST[:PORT]`` (``None``: ``ckms``, back to discovery, cache cleared)."""
        state = self.state()
        if address is not None:
            host, port = parse_address(address, settings.DEFAULT_PORT)
            state.registered_host = format_address(host, port)
        else:
            state.registered_host = None
            state.cached_host = state.cached_address = None
        self._save(state)

    def set_kms_domain(self, domain: str | None) -> None:
        """``skms-domain D`` / ``ckms-domain``."""
        state = self.state()
        state.kms_domain = domain.rstrip(".") if domain else None
        self._save(state)

    def set_host_caching(self, enabled: bool) -> None:
        """``skhc`` / ``ckhc``."""
        state = self.state()
        state.host_caching = enabled
        if not enabled:
            state.cached_host = state.cached_address = None
        self._save(state)

    # -- activation ----------------------------------------------------------------------

    def activate(self) -> AttemptOutcome:
        """``ato``: one activation attempt (blocking)."""
        return asyncio.run(self.activate_async())

    async def activate_async(self) -> AttemptOutcome:
        """One activation attempt: discovery, each host in turn, events, state saved.

        With a MAK installed: one request to the publisher's service instead (no host).
        """
        self._writable()
        snapshot = self.snapshot()
        reading = self.observe_time(snapshot)
        if mak_reference(snapshot.state) is not None:  # a MAK (also after cpky): no host
            mak = MakActivation(
                snapshot,
                clock=self.clock,
                machine_name=self.machine_name,
                publisher_url=self.publisher_url,
                events=self.events,
            )
            outcome = await asyncio.to_thread(mak.run)
            return self._finish(snapshot, reading, outcome)
        attempt = ActivationAttempt(
            snapshot,
            clock=self.clock,
            transport=self.transport,
            locator=self.locator,
            machine_name=self.machine_name,
            service=self.service,
            events=self.events,
        )
        outcome = await attempt.run()
        if attempt.new_trust is not None:  # a newer catalog of the pinned publisher
            save_trust(self.directory, attempt.new_trust)
            snapshot.state.publisher_key = attempt.new_trust.publisher_key_text  # the new pin
        return self._finish(snapshot, reading, outcome)

    def _finish(
        self, snapshot: ClientSnapshot, reading: TimeReading, outcome: AttemptOutcome
    ) -> AttemptOutcome:
        self._save(snapshot.state)
        trusted = max(reading.trusted, snapshot.state.trusted_time)
        return dataclasses.replace(outcome, license=snapshot.license(trusted))
