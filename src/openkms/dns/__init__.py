"""DNS: SRV discovery (RFC 2782) and RFC 2136 dynamic update with TSIG, on dnspython."""

from __future__ import annotations

from openkms.dns.srv import DnsLocator, DnsServer, SrvRecord, order_srv, parse_server
from openkms.dns.update import DnsUpdater, Registration, TsigKey, load_tsig_key

__all__ = [
    "DnsLocator",
    "DnsServer",
    "DnsUpdater",
    "Registration",
    "SrvRecord",
    "TsigKey",
    "load_tsig_key",
    "order_srv",
    "parse_server",
]
