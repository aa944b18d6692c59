"""Every test that docs/security.md names as proof exists (a renamed test fails here)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"


def _cited() -> list[tuple[str, str | None]]:
    """(test file, test name or None) in the order cited; ``::name`` uses the last file."""
    cited: list[tuple[str, str | None]] = []
    last = ""
    for path, name in re.findall(
        r"`((?:[a-z0-9_]+/)*test_[a-z0-9_]+\.py)?(?:::([a-z0-9_]+))?`", DOC.read_text()
    ):
        if path:
            last = path
        if path or name:
            cited.append((last, name or None))
    return cited


def test_security_doc_cites_tests_that_exist() -> None:
    cited = _cited()
    assert len(cited) >= 20
    for path, name in cited:
        source = ROOT / "tests" / path
        assert source.is_file(), path
        if name is not None:
            assert re.search(rf"^(async )?def {name}\(", source.read_text(), re.M), (path, name)
