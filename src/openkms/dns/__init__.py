"""DNS: SRV discovery (RFC 2782) and RFC 2136 dynamic update with TSIG, on dnspython.

The package imports nothing itself: the client library needs only ``dns.locator`` (the
``Locator`` interface and its ``Candidate``), and should not pay for loading the resolver
and update machinery when it never looks anything up. Import from the modules:
``openkms.dns.locator``, ``openkms.dns.srv``, ``openkms.dns.update``,
``openkms.dns.publisher``, ``openkms.dns.status`` (the publisher's status file, without
dnspython).
"""
