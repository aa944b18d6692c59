"""Online host activation (``host ato``, ``slmgr /ato`` on a host).

The host sends the same activation request as the offline file path to the publisher's
service (``POST /v1/host-activations``) and installs the certificate it answers, verified
exactly like a certificate file carried by hand. The URL is ``--publisher-url``, else the
signed catalog's ``publisher_url``.
"""

from __future__ import annotations

from openkms.client.publisher_http import DEFAULT_TIMEOUT, PublisherService
from openkms.core.certificate import HostCertificate
from openkms.core.codes import ResultCode
from openkms.core.publisher_api import HOST_ACTIVATIONS_PATH
from openkms.errors import OpenKMSError, StateError
from openkms.host.state import HostState
from openkms.i18n import N_, _

__all__ = ["OFFLINE_FIX", "activate_online", "publisher_url"]

OFFLINE_FIX = N_(
    "activate offline: 'openkms host --store DIR activation-request -o req.json', "
    "'openkms publisher activate-host PUBDIR req.json -o cert.json' at the publisher, then "
    "'openkms host --store DIR install-certificate cert.json'"
)


def publisher_url(state: HostState, given: str | None) -> str:
    """The service URL: ``given``, else the pinned catalog's; an error naming both ways."""
    if given:
        return given
    trust = state.trust()
    if trust is None:
        raise StateError(code=ResultCode.TRUST_MISSING)
    if not trust.catalog.publisher_url:
        raise OpenKMSError(
            _("the publisher's catalog names no activation service"),
            code=ResultCode.INVALID_ARGUMENT,
            fix=_("Give the service with --publisher-url URL, or {offline}.").format(
                offline=_(OFFLINE_FIX)
            ),
        )
    return trust.catalog.publisher_url


def activate_online(
    state: HostState,
    machine_name: str,
    now: int,
    url: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> HostCertificate:
    """Activate the host with the publisher's service and install the certificate."""
    service = PublisherService(publisher_url(state, url), timeout, offline_fix=OFFLINE_FIX)
    request = state.activation_request(machine_name, now)
    reply = service.post(HOST_ACTIVATIONS_PATH, request)
    return state.install_certificate(reply.body, now)
