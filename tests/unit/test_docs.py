"""Documentation that cannot drift: every setting and every code is documented."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from openkms.core import settings
from openkms.host.config import HostConfig
from openkms.host.state import HostSettings

DOCS = Path(__file__).parent.parent.parent / "docs"


@pytest.mark.parametrize("name", [n for n in settings.__all__ if n.isupper()])
def test_every_model_setting_is_documented(name: str) -> None:
    assert f"`{name}`" in (DOCS / "configuration.md").read_text()


@pytest.mark.parametrize("name", [f.name for f in msgspec.structs.fields(HostSettings)])
def test_every_host_setting_is_documented(name: str) -> None:
    assert f"`{name}`" in (DOCS / "configuration.md").read_text()


@pytest.mark.parametrize("name", list(HostConfig.__dataclass_fields__))
def test_every_host_process_option_is_documented(name: str) -> None:
    assert f"`{name}`" in (DOCS / "configuration.md").read_text()
