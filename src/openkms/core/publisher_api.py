"""The messages of the publisher's activation service (HTTP, JSON), and their checks.

Shared by the service (``openkms.publisher``), the host (online ``ato``) and the client (MAK
``ato``), so that every side decodes the same bytes into the same typed values. Everything
here is pure: bytes in, values or :class:`~openkms.errors.OpenKMSError` out.

Endpoints (``docs/protocol.md`` is normative)::

    POST /v1/host-activations   body: a host activation request file -> a certificate file
    POST /v1/mak-activations    body: MakActivationRequest (JSON)     -> MakActivationResponse
    GET  /v1/trust              the current trust.json
    GET  /healthz               {"status": "ok"}

Every refusal is a 4xx (5xx: the service's own trouble) whose body is a :class:`ServiceError`.
"""

from __future__ import annotations

import uuid

import msgspec

from openkms.core.codes import ResultCode
from openkms.core.keys import KeyKind, ProductKey, mak_product_tag
from openkms.errors import KeyFormatError, OpenKMSError
from openkms.i18n import _

__all__ = [
    "ERROR_FORMAT",
    "HOST_ACTIVATIONS_PATH",
    "MAK_ACTIVATIONS_PATH",
    "MAK_REQUEST_FORMAT",
    "MAK_RESPONSE_FORMAT",
    "MAX_REQUEST_BYTES",
    "MAX_RESPONSE_BYTES",
    "TRUST_PATH",
    "MakActivationRequest",
    "MakActivationResponse",
    "ServiceError",
    "check_machine_name",
    "decode_mak_request",
    "decode_service_error",
    "service_error_of",
]

HOST_ACTIVATIONS_PATH = "/v1/host-activations"
MAK_ACTIVATIONS_PATH = "/v1/mak-activations"
TRUST_PATH = "/v1/trust"
MAK_REQUEST_FORMAT = "openkms-mak-activation-request/1"
MAK_RESPONSE_FORMAT = "openkms-mak-activation/1"
ERROR_FORMAT = "openkms-error/1"
MAX_REQUEST_BYTES = 64 * 1024  # a request file is under 1 KiB
MAX_RESPONSE_BYTES = 256 * 1024  # a certificate file carries the trust document
_MAX_MACHINE_NAME = 63


class MakActivationRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a client with a MAK sends the publisher: the key, its CMID, name and product."""

    format: str
    key: str
    cmid: str
    machine_name: str
    activation_id: str


class MakActivationResponse(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The service's answer: a ticket signed under the publisher's chain (MAK role)."""

    format: str
    ticket: bytes


class ServiceError(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The body of every refusal: the result code, its message and the fix."""

    format: str
    code: int
    hex: str
    name: str
    message: str
    fix: str


def service_error_of(exc: OpenKMSError) -> ServiceError:
    """The refusal body for ``exc``."""
    return ServiceError(
        ERROR_FORMAT, int(exc.code), exc.code.hex, exc.code.name, exc.message, exc.fix
    )


def decode_service_error(data: bytes) -> OpenKMSError | None:
    """The error a refusal body carries, or None when it is not one (hostile bytes welcome)."""
    try:
        body = msgspec.json.decode(data, type=ServiceError)
        code = ResultCode(body.code)
    except (msgspec.DecodeError, UnicodeDecodeError, ValueError):
        return None
    if body.format != ERROR_FORMAT:
        return None
    return OpenKMSError(_printable(body.message, 300), code=code, fix=_printable(body.fix, 300))


def _printable(text: str, limit: int) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in text[:limit])


def check_machine_name(name: str) -> str:
    """A machine name as sent over the wire: 1..63 printable characters, else an error."""
    if not 0 < len(name) <= _MAX_MACHINE_NAME or not name.isprintable():
        raise OpenKMSError(
            _("the machine name must be 1 to {max_machine_name} printable characters").format(
                max_machine_name=_MAX_MACHINE_NAME
            ),
            code=ResultCode.REQUEST_INVALID,
            fix=_("Give a plain machine name (--machine-name)."),
        )
    return name


def _request_invalid(reason: str) -> OpenKMSError:
    return OpenKMSError(
        _("not a MAK activation request: {reason}").format(reason=reason),
        code=ResultCode.REQUEST_INVALID,
        fix=_("Send the request 'openkms client ato' makes (docs/protocol.md)."),
    )


def decode_mak_request(data: bytes) -> tuple[MakActivationRequest, ProductKey]:
    """Decode and check a MAK activation request; OpenKMSError naming what is wrong."""
    try:
        request = msgspec.json.decode(data, type=MakActivationRequest)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise _request_invalid(str(exc)[:200]) from None
    if request.format != MAK_REQUEST_FORMAT:
        raise _request_invalid(_("format {format!r}").format(format=request.format[:60]))
    for name, value in (("cmid", request.cmid), ("activation_id", request.activation_id)):
        try:
            if str(uuid.UUID(value)) != value:
                raise ValueError(value)
        except ValueError:
            raise _request_invalid(
                _("{name} is not a UUID in canonical form").format(name=name)
            ) from None
    check_machine_name(request.machine_name)
    key = ProductKey.parse(request.key[:64])
    if key.kind is not KeyKind.MAK:
        raise KeyFormatError(
            _("This is not a MAK: only a MAK activates with the publisher directly."),
            fix=_("Install the MAK the publisher issued ('client ipk MAK')."),
        )
    if key.product_tag != mak_product_tag(request.activation_id):
        raise KeyFormatError(_("This MAK is for another product than the one requested."))
    return request, key
