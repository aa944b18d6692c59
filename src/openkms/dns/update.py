"""RFC 2136 dynamic update of a host's own SRV record (and A/AAAA), optionally TSIG-signed.

A host only ever touches its own entries: it reads the SRV rrset, deletes the records whose
target is its own name, then adds its record. Records other hosts published stay.

::

    updater = DnsUpdater([DnsServer("192.0.2.53")], key=load_tsig_key(Path("kms.key")))
    await updater.publish(Registration("_openkms._tcp", "corp.example", "kms1.corp.example", 1688))
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.update

from openkms.core import settings
from openkms.core.codes import ResultCode
from openkms.dns.srv import DnsServer
from openkms.errors import DnsError
from openkms.i18n import _

__all__ = [
    "DnsUpdater",
    "Registration",
    "TsigKey",
    "load_tsig_key",
    "parse_tsig_key",
    "rcode_error",
    "update_error",
]

log = logging.getLogger("openkms.dns")

_KEY_RE = re.compile(
    r'key\s+"?(?P<name>[^"\s{]+)"?\s*\{(?P<body>[^}]*)\}', re.IGNORECASE | re.DOTALL
)


@dataclass(frozen=True, slots=True)
class TsigKey:
    """A TSIG key: name, base64 secret and algorithm (HMAC-SHA256 by default)."""

    name: str
    secret: str
    algorithm: str = "hmac-sha256"

    def keyring(self) -> dict[dns.name.Name, dns.tsig.Key]:
        """The dnspython keyring holding this key."""
        return dns.tsigkeyring.from_text({self.name: (self.algorithm, self.secret)})


def parse_tsig_key(text: str, source: str = "TSIG key") -> TsigKey:
    """Parse a BIND key file (``key "NAME" { algorithm hmac-sha256; secret "B64"; };``)."""
    match = _KEY_RE.search(text)
    if match is None:
        raise DnsError(
            _(
                '{source}: not a BIND key file (key "NAME" {{ algorithm ...; secret ...; }};)'
            ).format(source=source),
            code=ResultCode.INVALID_ARGUMENT,
            fix=_("Create the key with 'tsig-keygen -a hmac-sha256 NAME > FILE'."),
        )
    body = match.group("body")
    secret = re.search(r'secret\s+"([^"]+)"', body)
    algorithm = re.search(r"algorithm\s+([A-Za-z0-9.-]+)", body)
    if secret is None:
        raise DnsError(
            _("{source}: the key has no secret").format(source=source),
            code=ResultCode.INVALID_ARGUMENT,
        )
    return TsigKey(
        match.group("name"), secret.group(1), algorithm.group(1) if algorithm else "hmac-sha256"
    )


def load_tsig_key(path: Path) -> TsigKey:
    """Read a BIND key file."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise DnsError(
            _("cannot read the TSIG key file {path}: {error}").format(
                path=path, error=exc.strerror or exc
            ),
            code=ResultCode.INVALID_ARGUMENT,
        ) from None
    return parse_tsig_key(text, str(path))


@dataclass(frozen=True, slots=True)
class Registration:
    """What one host publishes in one domain: ``<service>.<domain>`` SRV (+ A/AAAA)."""

    service: str
    domain: str
    target: str
    port: int
    priority: int = 0
    weight: int = 0
    ttl: int = settings.DNS_TTL_SECONDS
    addresses: tuple[str, ...] = ()

    @property
    def name(self) -> dns.name.Name:
        """The SRV owner name."""
        return dns.name.from_text(f"{self.service}.{self.domain}")

    @property
    def target_name(self) -> dns.name.Name:
        """The SRV target as an absolute name."""
        return dns.name.from_text(self.target)

    def srv(self) -> dns.rdata.Rdata:
        """The SRV rdata."""
        text = f"{self.priority} {self.weight} {self.port} {self.target_name}"
        return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.SRV, text)


_RCODE_CODES = {
    dns.rcode.REFUSED: ResultCode.DNS_UPDATE_REFUSED,
    dns.rcode.NOTAUTH: ResultCode.DNS_NOT_AUTHORITATIVE,
    dns.rcode.NOTZONE: ResultCode.DNS_NOT_AUTHORITATIVE,
    dns.rcode.SERVFAIL: ResultCode.DNS_SERVER_FAILURE,
}


def rcode_error(rcode: dns.rcode.Rcode, server: str, domain: str) -> DnsError:
    """The error for an update answered with a failing rcode."""
    code = _RCODE_CODES.get(rcode, ResultCode.DNS_SERVER_FAILURE)
    text = dns.rcode.to_text(rcode)
    return DnsError(
        _("{server} answered {text} to the update of {domain}").format(
            server=server, text=text, domain=domain
        ),
        code=code,
    )


def update_error(exc: BaseException, server: str, domain: str, timeout: float) -> DnsError:
    """Map an exception raised while sending an update to our error."""
    if isinstance(exc, dns.tsig.PeerBadKey):
        return DnsError(
            _("{server} does not know the TSIG key ({domain})").format(
                server=server, domain=domain
            ),
            code=ResultCode.DNS_BAD_KEY,
        )
    if isinstance(exc, dns.tsig.PeerBadSignature | dns.tsig.PeerBadTime | dns.tsig.BadSignature):
        return DnsError(
            _("{server} rejected the TSIG signature ({domain})").format(
                server=server, domain=domain
            ),
            code=ResultCode.DNS_BAD_SIGNATURE,
        )
    if isinstance(exc, dns.exception.Timeout | TimeoutError):
        return DnsError(
            _("{server} did not answer within {timeout:g}s ({domain})").format(
                server=server, timeout=timeout, domain=domain
            ),
            code=ResultCode.TIMEOUT,
        )
    if isinstance(exc, ConnectionRefusedError):
        return DnsError(
            _("{server} refused the connection ({domain})").format(server=server, domain=domain),
            code=ResultCode.TIMEOUT,
        )
    return DnsError(
        _("{server}: {exc} ({domain})").format(server=server, exc=exc, domain=domain),
        code=ResultCode.DNS_SERVER_FAILURE,
    )


class DnsUpdater:
    """Sends a host's dynamic updates to the first DNS server that answers."""

    def __init__(
        self,
        servers: Sequence[DnsServer],
        *,
        key: TsigKey | None = None,
        timeout: float = settings.DNS_TIMEOUT_SECONDS,
    ) -> None:
        self.servers = tuple(servers)
        self.key = key
        self.timeout = timeout

    async def publish(self, registration: Registration) -> None:
        """Replace this host's SRV record (and its A/AAAA) in ``registration.domain``."""
        with _bad_names(registration):
            await self._publish(registration)

    async def unpublish(self, registration: Registration) -> None:
        """Remove this host's SRV record (and its A/AAAA when it published them)."""
        with _bad_names(registration):
            await self._unpublish(registration)

    async def _publish(self, registration: Registration) -> None:
        update = await self._replace_own(registration)
        update.add(registration.name, registration.ttl, registration.srv())
        if registration.addresses and _within(registration):
            update.delete(registration.target_name, dns.rdatatype.A)
            update.delete(registration.target_name, dns.rdatatype.AAAA)
            for address in registration.addresses:
                update.add(registration.target_name, registration.ttl, *_address_rdata(address))
        await self._send(update, registration.domain)

    async def _unpublish(self, registration: Registration) -> None:
        update = await self._replace_own(registration)
        if registration.addresses and _within(registration):
            update.delete(registration.target_name, dns.rdatatype.A)
            update.delete(registration.target_name, dns.rdatatype.AAAA)
        await self._send(update, registration.domain)

    async def _replace_own(self, registration: Registration) -> dns.update.UpdateMessage:
        """An update that deletes every SRV entry of ``service.domain`` with our target."""
        update = self._message(registration.domain)
        for rdata in await self.own_records(registration):
            update.delete(registration.name, rdata)
        return update

    async def own_records(self, registration: Registration) -> list[dns.rdata.Rdata]:
        """The SRV records at ``service.domain`` whose target is this host."""
        query = dns.message.make_query(registration.name, dns.rdatatype.SRV)
        response = await self._exchange(query, registration.domain)
        mine: list[dns.rdata.Rdata] = []
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.SRV and rrset.name == registration.name:
                mine += [rd for rd in rrset if rd.target == registration.target_name]
        return mine

    def _message(self, domain: str) -> dns.update.UpdateMessage:
        if self.key is None:
            return dns.update.UpdateMessage(domain)
        return dns.update.UpdateMessage(
            domain,
            keyring=self.key.keyring(),
            keyname=dns.name.from_text(self.key.name),
            keyalgorithm=self.key.algorithm,
        )

    async def _send(self, update: dns.update.UpdateMessage, domain: str) -> None:
        response = await self._exchange(update, domain)
        rcode = response.rcode()
        if rcode != dns.rcode.NOERROR:
            raise rcode_error(rcode, self._server_text(), domain)
        log.debug("update of %s accepted", domain)

    async def _exchange(self, message: dns.message.Message, domain: str) -> dns.message.Message:
        """Ask each server in turn; a server that does not answer passes to the next."""
        if not self.servers:
            raise DnsError(code=ResultCode.NO_DNS_SERVERS)
        error: DnsError | None = None
        for server in self.servers:
            try:
                return await dns.asyncquery.udp(
                    message, server.address, timeout=self.timeout, port=server.port
                )
            except (dns.exception.Timeout, TimeoutError, OSError) as exc:
                error = update_error(exc, str(server), domain, self.timeout)
            except dns.exception.DNSException as exc:
                raise update_error(exc, str(server), domain, self.timeout) from None
        assert error is not None
        raise error

    def _server_text(self) -> str:
        return ", ".join(str(s) for s in self.servers)


def _within(registration: Registration) -> bool:
    """True when the target name lies in the zone being updated."""
    return registration.target_name.is_subdomain(dns.name.from_text(registration.domain))


def _address_rdata(address: str) -> tuple[dns.rdata.Rdata]:
    rdtype = dns.rdatatype.AAAA if ipaddress.ip_address(address).version == 6 else dns.rdatatype.A
    return (dns.rdata.from_text(dns.rdataclass.IN, rdtype, address),)


@contextlib.contextmanager
def _bad_names(registration: Registration) -> Iterator[None]:
    """A name that dnspython refuses (``a..b``, a label over 63) is our INVALID_ARGUMENT."""
    try:
        yield
    except dns.exception.DNSException as exc:  # exchanges map their own; these are names
        raise DnsError(
            _("a name of this registration ({domain}) is not valid DNS: {exc}").format(
                domain=registration.domain, exc=exc
            ),
            code=ResultCode.INVALID_ARGUMENT,
            fix=_("Correct the domain, target or service with 'host dns-config'."),
        ) from None
