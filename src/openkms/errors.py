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
    └── DnsError                 a lookup or dynamic update that failed

Lower-layer errors (sqlite3, OSError, dnspython, cryptography) are mapped to these at the
boundary of the module that meets them.
"""

from __future__ import annotations

from typing import Self

from openkms.core.codes import ResultCode

__all__ = [
    "ActivationError",
    "CatalogError",
    "DnsError",
    "KeyFormatError",
    "OpenKMSError",
    "ProtocolError",
    "SignatureError",
    "StateError",
    "StoreError",
]


class OpenKMSError(Exception):
    """Root of every OpenKMS error: a result code, a message and a fix."""

    default_code = ResultCode.INVALID_ARGUMENT

    def __init__(
        self, message: str | None = None, *, code: ResultCode | None = None, fix: str | None = None
    ) -> None:
        self.code = code if code is not None else self.default_code
        self.message = message if message is not None else self.code.info.message
        self.fix = fix if fix is not None else self.code.info.fix
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
