"""The seal of ``client.json``: an HMAC-SHA256 keyed per machine and per store.

The key is derived from this machine's ID (``/etc/machine-id``, else the D-Bus machine ID,
else the host name) and a random 32-byte secret kept beside the state in ``seal.key``
(mode 0600). A state edited by hand, or copied from another machine, no longer matches its
seal. This is tamper *evidence* against casual edits: the machine's owner can read the
secret and the machine ID and compute a valid seal (docs/security.md says so).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import os
import secrets
import socket
from pathlib import Path

from openkms._files import read_bytes
from openkms.core.codes import ResultCode
from openkms.errors import StoreError
from openkms.i18n import _

__all__ = ["SEAL_FILE", "SealKey", "machine_id"]

SEAL_FILE = "seal.key"
_DOMAIN = b"openkms/client-state-seal/v1"
_SECRET_BYTES = 32
_MACHINE_ID_FILES = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))
_PREFIX = "hmac-sha256:"
_DENIED = (errno.EACCES, errno.EPERM, errno.EROFS)


def machine_id() -> bytes:
    """This machine's identity: its machine ID, else its host name."""
    for path in _MACHINE_ID_FILES:
        with contextlib.suppress(OSError):
            value = path.read_bytes().strip()
            if value:
                return value
    return socket.gethostname().encode()


class SealKey:
    """The MAC key of one store on this machine."""

    def __init__(self, secret: bytes, machine: bytes) -> None:
        self._key = hmac.new(secret, _DOMAIN + b"\0" + machine, hashlib.sha256).digest()

    @classmethod
    def load(cls, directory: Path) -> SealKey | None:
        """The store's key, or None if it has no ``seal.key`` (never sealed yet)."""
        path = directory / SEAL_FILE
        if not path.exists():
            return None
        return cls(read_bytes(path, _("state seal key")), machine_id())

    @classmethod
    def load_or_create(cls, directory: Path) -> SealKey:
        """The store's key; a new random secret (0600) the first time."""
        path = directory / SEAL_FILE
        try:
            # O_EXCL: two processes saving at once agree on one secret.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(_SECRET_BYTES))
                handle.flush()
                os.fsync(handle.fileno())
        except FileExistsError:
            pass
        except OSError as exc:
            code = (
                ResultCode.ACCESS_DENIED if exc.errno in _DENIED else ResultCode.STORE_UNAVAILABLE
            )
            raise StoreError(
                _("cannot write {path}: {error}").format(path=path, error=exc.strerror or exc),
                code=code,
            ) from None
        key = cls.load(directory)
        assert key is not None  # created above, or by a concurrent writer
        return key

    def seal(self, data: bytes) -> str:
        """The seal of ``data`` (``hmac-sha256:`` and hex)."""
        return _PREFIX + hmac.new(self._key, data, hashlib.sha256).hexdigest()

    def matches(self, data: bytes, seal: str) -> bool:
        """True when ``seal`` is this key's seal of ``data`` (constant time)."""
        return hmac.compare_digest(self.seal(data), seal)
