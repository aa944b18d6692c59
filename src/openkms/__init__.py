"""OpenKMS: volume activation on the model of a Key Management Service.

The public API is what an application embedding the client needs, and the building blocks
of the programs; everything else is internal and may change.
"""

from __future__ import annotations

__version__ = "0.1.0"

from openkms.client.api import AttemptOutcome, Client, License
from openkms.core.codes import ResultCode
from openkms.core.keys import KeyKind, ProductKey
from openkms.core.license import LicenseState
from openkms.core.trust import Trust
from openkms.errors import (
    ActivationError,
    CatalogError,
    DnsError,
    KeyFormatError,
    OpenKMSError,
    ProtocolError,
    SignatureError,
    StateError,
    StoreError,
)

__all__ = [
    "ActivationError",
    "AttemptOutcome",
    "CatalogError",
    "Client",
    "DnsError",
    "KeyFormatError",
    "KeyKind",
    "License",
    "LicenseState",
    "OpenKMSError",
    "ProductKey",
    "ProtocolError",
    "ResultCode",
    "SignatureError",
    "StateError",
    "StoreError",
    "Trust",
    "__version__",
]
