"""The ``bind`` fixture: one real BIND9 for the DNS tests of the session.

Without ``named`` the tests are skipped, except when ``CI`` is set: there they must run
(``.ci/run`` installs the Debian packages ``bind9`` and ``bind9-utils``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from bindserver import Bind, named_installed, start_bind, stop_bind


@pytest.fixture(scope="session")
def bind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bind]:
    """A BIND9 for the whole session, stopped at the end."""
    if not named_installed():
        if os.environ.get("CI"):
            pytest.fail("named (BIND9) is required in CI: apt-get install bind9 bind9-utils")
        pytest.skip("named (BIND9) is not installed: apt-get install bind9 bind9-utils")
    server = start_bind(tmp_path_factory.mktemp("bind"))
    try:
        yield server
    finally:
        stop_bind(server)
