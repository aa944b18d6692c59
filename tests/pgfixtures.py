"""The ``postgres`` fixtures: one real PostgreSQL for the session, a fresh database per test.

Without PostgreSQL's server binaries the tests using them are skipped, except when ``CI`` is
set: there they must run (``scripts/system-packages`` installs Debian's ``postgresql``).
Imported by the top ``conftest.py`` so that every tier of tests may use them.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from pgserver import Postgres, postgres_installed, remove, start_postgres

_names = itertools.count(1)


def require_postgres() -> None:
    """Skip (fail in CI) when PostgreSQL is not installed."""
    if postgres_installed():
        return
    if os.environ.get("CI"):
        pytest.fail("PostgreSQL is required in CI: apt-get install postgresql")
    pytest.skip("PostgreSQL is not installed: apt-get install postgresql")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server for the whole session, stopped and deleted at the end."""
    require_postgres()
    server = start_postgres()
    try:
        yield server
    finally:
        remove(server)


@pytest.fixture
def pg_dsn(postgres: Postgres) -> str:
    """The DSN of a new, empty schema (``search_path``) on the session's server."""
    return postgres.create_schema(f"test_{os.getpid()}_{next(_names)}")
