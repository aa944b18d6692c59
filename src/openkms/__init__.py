"""OpenKMS: volume activation on the model of a Key Management Service.

The public API is what an application embedding the client needs, and the building blocks
of the programs; everything else is internal and may change.
"""

from __future__ import annotations

__version__ = "0.1.0"

import importlib
from typing import TYPE_CHECKING, Any

from openkms.core.codes import ResultCode
from openkms.core.keys import KeyKind, ProductKey
from openkms.core.license import LicenseState
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

# The client API and the trust chain (asyncio, cryptography) load on first use: a process
# that needs only the model or the store, such as the store's writer process, starts
# without them.
_LAZY = {
    "AttemptOutcome": "openkms.client.api",
    "Client": "openkms.client.api",
    "License": "openkms.client.api",
    "Trust": "openkms.core.trust",
}

if TYPE_CHECKING:
    from openkms.client.api import AttemptOutcome, Client, License
    from openkms.core.trust import Trust


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'openkms' has no attribute {name!r}")
