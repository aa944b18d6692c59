"""Fixtures of the doctor tests: real host processes with activated clients, and BIND9.

The BIND9 fixture reuses ``tests/dns/bindserver.py`` (it is not a package: its directory is
put on ``sys.path``) and adds the records each test needs with TSIG-signed updates.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rdatatype
import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "dns"))

from bindserver import Bind, named_installed, start_bind, stop_bind


def _answers_tcp(server: Bind) -> bool:
    query = dns.message.make_query("openkms.test", dns.rdatatype.SOA)
    try:
        dns.query.tcp(query, "127.0.0.1", port=server.port, timeout=2.0)
    except (OSError, dns.exception.DNSException):
        return False
    return True


@pytest.fixture(scope="session")
def doctor_bind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bind]:
    """A BIND9 for the doctor's DNS tests (skipped without named, except in CI)."""
    if not named_installed():
        if os.environ.get("CI"):
            pytest.fail("named (BIND9) is required in CI: apt-get install bind9 bind9-utils")
        pytest.skip("named (BIND9) is not installed")
    for _ in range(5):
        server = start_bind(tmp_path_factory.mktemp("doctor-bind"))
        if _answers_tcp(server):
            break
        # bindserver picks a free UDP port; its TCP twin may be busy (an ephemeral port
        # of another connection): named then runs without TCP. Start another one.
        stop_bind(server)
    else:
        pytest.fail("named could not listen on TCP")
    try:
        yield server
    finally:
        stop_bind(server)
