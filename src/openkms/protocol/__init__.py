"""The OpenKMS wire protocol, sans-IO: bytes in, messages out; messages in, bytes out."""

from openkms.protocol.connection import NEED_DATA, Connection, Role
from openkms.protocol.messages import (
    ActivationRequest,
    ActivationResponse,
    ErrorResponse,
    Message,
    ProbeRequest,
    ProbeResponse,
)

__all__ = [
    "NEED_DATA",
    "ActivationRequest",
    "ActivationResponse",
    "Connection",
    "ErrorResponse",
    "Message",
    "ProbeRequest",
    "ProbeResponse",
    "Role",
]
