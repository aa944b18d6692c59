"""Fixtures shared by every tier of tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from pgfixtures import pg_dsn, postgres

from helpers import Site, make_site

__all__ = ["pg_dsn", "postgres"]  # fixtures of pgfixtures, for every tier of tests


@pytest.fixture
def site(tmp_path: Path) -> Site:
    """A publisher and an activated group-C host store."""
    return make_site(tmp_path)
