"""The client's persisted state (``client.json``), written atomically.

Layout of ``--store DIR``::

    client.json   key, CMID, timers, KMS host settings, the last ticket
    trust.json    the publisher's trust document, pinned at the first ipk
    events.jsonl  client events 12288/12289 (bounded)
"""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path

import msgspec

from openkms._files import atomic_write, private_directory, read_bytes
from openkms.core import settings
from openkms.core.trust import Trust
from openkms.errors import StateError

__all__ = ["ClientState", "load_state", "load_trust", "new_cmid", "save_state", "save_trust"]

STATE_FORMAT = "openkms-client/1"


def new_cmid() -> str:
    """A new random client machine ID, as a UUID string (version 4)."""
    return str(uuid.UUID(bytes=secrets.token_bytes(16), version=4))


class ClientState(msgspec.Struct):
    """Everything a client remembers between runs."""

    format: str = STATE_FORMAT
    cmid: str = msgspec.field(default_factory=new_cmid)
    setup_key: str | None = None
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


def load_state(directory: Path) -> ClientState:
    """The client state of ``directory`` (a fresh one if it has none)."""
    path = directory / "client.json"
    if not path.exists():
        return ClientState()
    data = read_bytes(path, "client state")
    try:
        state = msgspec.json.decode(data, type=ClientState)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise StateError(
            f"{path} is corrupt: {exc}",
            fix=f"Restore {path} from a backup, or move it aside and install the key again.",
        ) from None
    if state.format != STATE_FORMAT:
        raise StateError(f"{path}: format {state.format!r}, expected {STATE_FORMAT!r}")
    try:
        uuid.UUID(state.cmid)
    except ValueError:
        raise StateError(
            f"{path} is corrupt: the CMID {state.cmid!r} is not a UUID",
            fix=f"Restore {path} from a backup, or move it aside and install the key again.",
        ) from None
    return state


def save_state(directory: Path, state: ClientState) -> None:
    """Write ``client.json`` atomically (a crash leaves the old or the new file)."""
    data = msgspec.json.format(msgspec.json.encode(state), indent=2) + b"\n"
    atomic_write(directory / "client.json", data, mode=0o600)


def load_trust(directory: Path) -> Trust | None:
    """The pinned publisher trust of ``directory``, verified (None before the first ipk)."""
    path = directory / "trust.json"
    if not path.exists():
        return None
    return Trust.from_json(read_bytes(path, "trust file"), str(path))


def save_trust(directory: Path, trust: Trust) -> None:
    """Pin ``trust`` in ``directory`` (``trust.json``, written atomically)."""
    private_directory(directory)
    atomic_write(directory / "trust.json", trust.to_json())
