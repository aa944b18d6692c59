"""The client's persisted state (``client.json``), sealed and written atomically.

Layout of ``--store DIR``::

    client.json   key (partial only after cpky), CMID, timers, trusted time, KMS host
                  settings, the last ticket, sealed
    seal.key      the random per-store secret of the seal (0600; see ``client/seal.py``)
    trust.json    the publisher's trust document, pinned at the first ipk
    events.jsonl  client events 12288/12289 (bounded)

``client.json`` is ``{"format": "openkms-client/2", "state": {...}, "seal": "hmac-sha256:..."}``;
the seal covers the ``state`` object as stored (whitespace aside). A state whose seal does not
match loads with ``tampered`` set: the license is then Notification (0xC004D301) until a
genuine host activates the machine again, and the flag is sealed with every later save.

An unsealed state of the previous format (``openkms-client/1``) is accepted once, when the
store has no ``seal.key`` yet (the first run after an upgrade); the next save seals it. Once
a store has a seal key, an unsealed state is a tampered one.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from pathlib import Path
from typing import TypeVar

import msgspec

from openkms._files import atomic_write, private_directory, read_bytes
from openkms.client.seal import SealKey
from openkms.core import settings
from openkms.core.trust import Trust
from openkms.errors import StateError
from openkms.i18n import _

__all__ = [
    "ClearedMak",
    "ClientState",
    "load_state",
    "load_trust",
    "new_cmid",
    "save_state",
    "save_trust",
]

log = logging.getLogger("openkms.client")

STATE_FORMAT = "openkms-client/2"
_UNSEALED_FORMAT = "openkms-client/1"
_T = TypeVar("_T")


def new_cmid() -> str:
    """A new random client machine ID, as a UUID string (version 4)."""
    return str(uuid.UUID(bytes=secrets.token_bytes(16), version=4))


class ClearedMak(msgspec.Struct):
    """What ``cpky`` keeps of an installed MAK: what verifies its phone activation.

    ``phone_reference`` is the key's part of the installation ID (``dti`` shows it anyway);
    neither it nor the key ID gives the key back.
    """

    key_id: str
    product_tag: str
    phone_reference: int


class ClientState(msgspec.Struct):
    """Everything a client remembers between runs."""

    cmid: str = msgspec.field(default_factory=new_cmid)
    setup_key: str | None = None  # None after cpky while the key stays installed
    activation_id: str | None = None
    grace_started_at: int = 0
    rearms_used: int = 0
    ticket: bytes | None = None
    registered_host: str | None = None
    kms_domain: str | None = None
    host_caching: bool = True
    cached_host: str | None = None
    cached_address: str | None = None
    last_host_id: str | None = None
    activation_interval: int = settings.ACTIVATION_INTERVAL_MIN
    renewal_interval: int = settings.RENEWAL_INTERVAL_MIN
    last_attempt_at: int = 0
    last_result: int = 0
    last_count: int = 0
    publisher_key: str | None = None  # okpk1:..., pinned at the first ipk
    trusted_time: int = 0  # the highest time seen (clock, verified tickets): never goes back
    clock_rollback: int = 0  # seconds the clock was behind trusted_time when last looked at
    tampered: bool = False  # the seal did not match once: Notification until reactivated
    phone_ticket: bytes | None = None  # a MAK activated by phone (client/phone.py)
    partial_key: str | None = None  # the installed key's last five symbols (kept by cpky)
    cleared_mak: ClearedMak | None = None  # a MAK whose text cpky cleared
    # The publisher's revocation list as a host passed it on (encoded, verified when taken).
    revocations: bytes | None = None
    last_message: str = ""  # what the last attempt's result means (client dli shows it)


class _Probe(msgspec.Struct):
    format: str = ""


class _SealedFile(msgspec.Struct):
    format: str
    state: msgspec.Raw
    seal: str


def load_state(directory: Path, *, quiet: bool = False) -> ClientState:
    """The client state of ``directory`` (a fresh one if it has none).

    A state that does not match its seal (or is missing from a sealed store) comes back with
    ``tampered`` set (a WARNING, DEBUG when ``quiet``); a file that is not a client state at
    all raises StateError (0xE0040004).
    """
    path = directory / "client.json"
    if not path.exists():
        # A sealed store whose state was deleted: not a fresh install (no new grace).
        return ClientState(tampered=SealKey.load(directory) is not None)
    data = read_bytes(path, _("client state"))
    fmt = _decode(path, data, _Probe).format
    if fmt == _UNSEALED_FORMAT:
        state = _decode(path, data, ClientState)  # the same fields, no seal
        if SealKey.load(directory) is not None:
            log.log(
                _tamper_level(quiet),
                "%s: unsealed state in a sealed store: treated as tampered",
                path,
            )
            state.tampered = True
        else:
            log.info("%s: unsealed state of the previous format, sealed at the next save", path)
    elif fmt == STATE_FORMAT:
        state = _unseal(directory, path, _decode(path, data, _SealedFile), quiet)
    else:
        raise StateError(
            _("{path}: format {fmt!r}, expected {state_format!r}").format(
                path=path, fmt=fmt, state_format=STATE_FORMAT
            )
        )
    try:
        uuid.UUID(state.cmid)
    except ValueError:
        raise _corrupt(path, _("the CMID {cmid!r} is not a UUID").format(cmid=state.cmid)) from None
    return state


def _tamper_level(quiet: bool) -> int:
    return logging.DEBUG if quiet else logging.WARNING


def _unseal(directory: Path, path: Path, sealed: _SealedFile, quiet: bool) -> ClientState:
    body = msgspec.json.format(bytes(sealed.state), indent=-1)
    state = _decode(path, body, ClientState)
    key = SealKey.load(directory)
    if key is None or not key.matches(body, sealed.seal):
        log.log(_tamper_level(quiet), "%s does not match its seal: licensing data tampered", path)
        state.tampered = True
        state.rearms_used = max(state.rearms_used, settings.MAX_REARMS)  # none won back
    return state


def _decode(path: Path, data: bytes, kind: type[_T]) -> _T:
    try:
        return msgspec.json.decode(data, type=kind)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise _corrupt(path, str(exc)) from None


def _corrupt(path: Path, detail: str) -> StateError:
    return StateError(
        _("{path} is corrupt: {detail}").format(path=path, detail=detail),
        fix=_("Restore {path} from a backup, or move it aside and install the key again.").format(
            path=path
        ),
    )


def save_state(directory: Path, state: ClientState) -> None:
    """Seal and write ``client.json`` atomically (a crash leaves the old or the new file)."""
    private_directory(directory)
    body = msgspec.json.encode(state)
    seal = SealKey.load_or_create(directory).seal(body)
    sealed = _SealedFile(STATE_FORMAT, msgspec.Raw(body), seal)
    data = msgspec.json.format(msgspec.json.encode(sealed), indent=2) + b"\n"
    atomic_write(directory / "client.json", data, mode=0o600)


def load_trust(directory: Path) -> Trust | None:
    """The pinned publisher trust of ``directory``, verified (None before the first ipk)."""
    path = directory / "trust.json"
    if not path.exists():
        return None
    return Trust.from_json(read_bytes(path, _("trust file")), str(path))


def save_trust(directory: Path, trust: Trust) -> None:
    """Pin ``trust`` in ``directory`` (``trust.json``, written atomically)."""
    private_directory(directory)
    atomic_write(directory / "trust.json", trust.to_json())
