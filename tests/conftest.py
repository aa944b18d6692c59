"""Fixtures shared by every tier of tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from openkms.i18n import use_language

sys.path.insert(0, str(Path(__file__).parent))

from pgfixtures import pg_dsn, postgres

from helpers import Site, make_site

# The suite expects English from every process it starts, whatever the machine's locale: a
# test that wants French or German sets LANG (or passes --lang) itself.
for _variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
    os.environ.pop(_variable, None)
os.environ["LANG"] = "C.UTF-8"

__all__ = ["pg_dsn", "postgres"]  # fixtures of pgfixtures, for every tier of tests


@pytest.fixture
def site(tmp_path: Path) -> Site:
    """A publisher and an activated group-C host store."""
    return make_site(tmp_path)


@pytest.fixture(autouse=True)
def _english_between_tests() -> Iterator[None]:
    """Every test starts and ends in English: ``--lang`` in an in-process command sets the
    process's language, which would otherwise leak into the next test."""
    use_language("en")
    yield
    use_language("en")
