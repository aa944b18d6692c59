"""What the admin server needs from its host, as an interface the host implements.

The admin server never imports ``host/``: the host passes an object with these methods
(``host/app.py`` makes one when it starts the admin server; tests may pass their own).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from openkms.core.host import HostInfo, HostSnapshot
from openkms.core.host_settings import HostSettings

__all__ = ["HostView"]


class HostView(Protocol):
    """The host as the admin server sees it: its identity, files, ``dlv`` data and settings."""

    @property
    def host_id(self) -> str:
        """The host's identifier (``OKMS-...``), the key of its request counters."""
        ...

    def snapshot(self, now: int) -> HostSnapshot:
        """The host's store directory read now (blocking file reads: call it in a thread)."""
        ...

    async def info(self, now: int) -> HostInfo:
        """The host's ``dlv`` data (reads its files off the event loop)."""
        ...

    async def update_settings(self, changes: Mapping[str, object]) -> HostSettings:
        """Validate and save ``changes`` (SettingError if one is bad); the host applies them."""
        ...
