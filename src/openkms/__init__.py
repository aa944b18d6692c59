"""OpenKMS: volume activation on the model of a Key Management Service.

The public API is what an application embedding the client needs, and the building blocks
of the programs; everything else is internal and may change.
"""

from __future__ import annotations

__version__ = "0.1.0"

import importlib
from typing import TYPE_CHECKING, Any

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

# Every name loads on first use (PEP 562): ``python -m openkms.store._writer_process`` and
# every other module of the package import this one first, and a process that needs only
# the store (the writer process) starts without the client, the trust chain, the key model
# (``secrets``, OpenSSL's ``hashlib``) or asyncio (tests/unit/test_import_weight.py).
_LAZY = {
    "ActivationError": "openkms.errors",
    "AttemptOutcome": "openkms.client.api",
    "CatalogError": "openkms.errors",
    "Client": "openkms.client.api",
    "DnsError": "openkms.errors",
    "KeyFormatError": "openkms.errors",
    "KeyKind": "openkms.core.keys",
    "License": "openkms.client.api",
    "LicenseState": "openkms.core.license",
    "OpenKMSError": "openkms.errors",
    "ProductKey": "openkms.core.keys",
    "ProtocolError": "openkms.errors",
    "ResultCode": "openkms.core.codes",
    "SignatureError": "openkms.errors",
    "StateError": "openkms.errors",
    "StoreError": "openkms.errors",
    "Trust": "openkms.core.trust",
}

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'openkms' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
