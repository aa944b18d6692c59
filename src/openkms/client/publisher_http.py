"""The calls a client (MAK) or a host (online activation) makes to the publisher's service.

The standard library's ``http.client`` only (the client library installs without aiohttp),
with a timeout on every socket operation and a bound on what is read. Every byte from the
service is hostile until decoded: a refusal's body becomes the OpenKMSError it carries (its
result code, message and fix), anything else a protocol error. A TLS service is verified
against the system's certificate authorities (``SSL_CERT_FILE`` names another bundle).
"""

from __future__ import annotations

import http.client
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from openkms.core.codes import ResultCode
from openkms.core.publisher_api import MAX_RESPONSE_BYTES, decode_service_error
from openkms.errors import ActivationError, OpenKMSError, ProtocolError, network_error
from openkms.i18n import _

__all__ = ["DEFAULT_TIMEOUT", "PublisherService", "ServiceReply"]

DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class ServiceReply:
    """A successful answer of the service: its body (at most ``MAX_RESPONSE_BYTES``)."""

    body: bytes


@dataclass(frozen=True, slots=True)
class PublisherService:
    """The publisher's service at ``url`` (``http://`` or ``https://``, no query)."""

    url: str
    timeout: float = DEFAULT_TIMEOUT
    offline_fix: str = ""  # what to do instead (marked with N_()) when it cannot be reached

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise OpenKMSError(
                _("{url!r} is not an http:// or https:// URL of a publisher service").format(
                    url=self.url[:80]
                ),
                code=ResultCode.INVALID_ARGUMENT,
                fix=_("Give the URL the publisher gave (e.g. https://activation.example.com)."),
            )

    def post(self, path: str, body: bytes) -> ServiceReply:
        """POST ``body`` (JSON) to ``path``; the reply, or the error the service names."""
        return self._request("POST", path, body)

    def get(self, path: str) -> ServiceReply:
        """GET ``path``; the reply, or the error the service names."""
        return self._request("GET", path, None)

    def _request(self, method: str, path: str, body: bytes | None) -> ServiceReply:
        parts = urlsplit(self.url)
        where = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        conn = self._connection()
        try:
            headers = {"Content-Type": "application/json", "Accept": "application/json"}
            conn.request(method, parts.path.rstrip("/") + path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read(MAX_RESPONSE_BYTES + 1)
            status = response.status
        except OSError as exc:
            raise self._unreachable(network_error(exc, where, self.timeout)) from None
        except http.client.HTTPException as exc:
            raise ProtocolError(
                _("{where} is not a publisher service ({kind})").format(
                    where=where, kind=type(exc).__name__
                ),
                fix=_("Check the publisher URL."),
            ) from None
        finally:
            conn.close()
        return _reply(where, status, data)

    def _connection(self) -> http.client.HTTPConnection:
        parts = urlsplit(self.url)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if port == -1 or parts.hostname is None:
            raise OpenKMSError(
                _("{url!r} has an invalid port").format(url=self.url[:80]),
                code=ResultCode.INVALID_ARGUMENT,
            )
        if parts.scheme == "https":
            context = ssl.create_default_context()
            return http.client.HTTPSConnection(
                parts.hostname, port, timeout=self.timeout, context=context
            )
        return http.client.HTTPConnection(parts.hostname, port, timeout=self.timeout)

    def _unreachable(self, error: ActivationError) -> ActivationError:
        fix = _("Check the publisher URL and the network path to it.")
        if self.offline_fix:
            # offline_fix is marked with N_() where it is defined.
            fix = _("Check the publisher URL and the network path to it, or {offline}.").format(
                offline=_(self.offline_fix)
            )
        return ActivationError(
            _("the publisher service {url} cannot be reached: {message}").format(
                url=self.url, message=error.message
            ),
            code=error.code,
            fix=fix,
        )


def _reply(where: str, status: int, data: bytes) -> ServiceReply:
    if len(data) > MAX_RESPONSE_BYTES:
        raise ProtocolError(
            _("{where} sent more than {max_response_bytes} bytes").format(
                where=where, max_response_bytes=MAX_RESPONSE_BYTES
            )
        )
    if status == 200:
        return ServiceReply(data)
    refused = decode_service_error(data)
    if refused is not None:
        raise refused
    raise ProtocolError(
        _("{where} answered HTTP {status} without an OpenKMS error").format(
            where=where, status=status
        ),
        fix=_("Check the publisher URL (a proxy or another service may be answering)."),
    )
