"""The one exceptions module.

::

    OpenKMSError                 every error a user can see; carries a ResultCode and a fix
    ├── KeyFormatError           a mistyped or unknown product key (0xC004F050)
    ├── CatalogError             a catalog that does not parse or validate, with its line
    ├── SignatureError           a signature, certificate or ticket that does not verify
    ├── StateError               a corrupt or missing state file, store or trust
    ├── ProtocolError            a frame that is not OpenKMS, too long, or of another version
    ├── StoreError               the database cannot be opened or written (disk full, closed)
    ├── ActivationError          an activation attempt that did not license the machine
    ├── DnsError                 a lookup or dynamic update that failed
    └── ArtefactError            a saved artefact (slmgr text, event export) that cannot be read

Lower-layer errors (sqlite3, OSError, dnspython, cryptography) are mapped to these at the
boundary of the module that meets them. Network and OS errors of a connection to a host have
one table, :func:`network_error`, shared by the client and the doctor, so that the same
failure gives the same result code everywhere.
"""

from __future__ import annotations

import errno
import socket
from typing import Self

from openkms.core.codes import ResultCode
from openkms.i18n import N_, _

__all__ = [
    "ActivationError",
    "ArtefactError",
    "CatalogError",
    "DnsError",
    "KeyFormatError",
    "OpenKMSError",
    "ProtocolError",
    "SignatureError",
    "StateError",
    "StoreError",
    "network_error",
]


class OpenKMSError(Exception):
    """Root of every OpenKMS error: a result code, a message and a fix."""

    default_code = ResultCode.INVALID_ARGUMENT

    def __init__(
        self, message: str | None = None, *, code: ResultCode | None = None, fix: str | None = None
    ) -> None:
        self.code = code if code is not None else self.default_code
        # A code's own message and fix come translated (ResultCode.info); a message given is
        # already in the language of the process (raised as ``_("...{x}").format(x=...)``).
        info = self.code.info
        self.message = message if message is not None else info.message
        self.fix = fix if fix is not None else info.fix
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.code.hex} {self.message}"

    def copy(self) -> Self:
        """A fresh error with the same message, code and fix (one per waiter: re-raising a
        shared exception object tangles tracebacks)."""
        return type(self)(self.message, code=self.code, fix=self.fix)


class KeyFormatError(OpenKMSError):
    """A product key that is mistyped, of the wrong kind or unknown."""

    default_code = ResultCode.INVALID_PRODUCT_KEY


class CatalogError(OpenKMSError):
    """A catalog that does not parse or validate."""

    default_code = ResultCode.CATALOG_INVALID


class SignatureError(OpenKMSError):
    """A signature, certificate or ticket that does not verify."""

    default_code = ResultCode.TICKET_INVALID


class StateError(OpenKMSError):
    """A corrupt, missing or foreign state file."""

    default_code = ResultCode.STATE_CORRUPT


class ProtocolError(OpenKMSError):
    """Bytes that are not a valid OpenKMS frame."""

    default_code = ResultCode.PROTOCOL_ERROR


class StoreError(OpenKMSError):
    """The database cannot be opened or written."""

    default_code = ResultCode.STORE_UNAVAILABLE


class ActivationError(OpenKMSError):
    """An activation attempt that did not license the machine."""

    default_code = ResultCode.NO_KMS_HOST_CONTACTED


class DnsError(OpenKMSError):
    """A DNS lookup or dynamic update that failed."""

    default_code = ResultCode.DNS_NAME_DOES_NOT_EXIST


class ArtefactError(OpenKMSError):
    """A saved artefact (slmgr text, event export) that cannot be read."""

    default_code = ResultCode.INVALID_ARGUMENT


# What a failed connection means, by errno: the one table (client and doctor). ETIMEDOUT
# needs no row: Python raises it as TimeoutError.
_NETWORK_ERRORS: dict[int, tuple[ResultCode, str]] = {
    errno.ECONNREFUSED: (ResultCode.CONNECTION_REFUSED, N_("connection refused")),
    errno.EHOSTUNREACH: (ResultCode.RPC_SERVER_UNAVAILABLE, N_("unreachable")),
    errno.ENETUNREACH: (ResultCode.RPC_SERVER_UNAVAILABLE, N_("unreachable")),
    errno.EHOSTDOWN: (ResultCode.RPC_SERVER_UNAVAILABLE, N_("unreachable")),
}
_UNREACHABLE = (ResultCode.RPC_SERVER_UNAVAILABLE, N_("unreachable"))


def network_error(exc: OSError, where: str, timeout: float | None = None) -> ActivationError:
    """The error for a connection to ``where`` (HOST:PORT) that failed with ``exc``.

    A timeout (``TimeoutError``, after ``timeout`` seconds) is 0x800705B4, a refused
    connection 0x8007274D, a name that does not resolve (``socket.gaierror``) 0x8007232B,
    anything else on the way (no route, a reset, several failed addresses) 0x800706BA.
    """
    if isinstance(exc, TimeoutError):
        if timeout is None:
            text = _("{where}: no answer").format(where=where)
        else:
            text = _("{where}: no answer within {seconds}s").format(
                where=where, seconds=f"{timeout:g}"
            )
        return ActivationError(text, code=ResultCode.TIMEOUT)
    reason = exc.strerror or str(exc)
    if isinstance(exc, socket.gaierror) or (exc.errno is not None and exc.errno < 0):
        return ActivationError(
            _("{where}: the name does not resolve ({reason})").format(where=where, reason=reason),
            code=ResultCode.DNS_NAME_DOES_NOT_EXIST,
        )
    code, what = _NETWORK_ERRORS.get(exc.errno or 0, _UNREACHABLE)
    if code is ResultCode.CONNECTION_REFUSED:
        return ActivationError(_("{where}: {what}").format(where=where, what=_(what)), code=code)
    return ActivationError(
        _("{where}: {what} ({reason})").format(where=where, what=_(what), reason=reason),
        code=code,
    )
