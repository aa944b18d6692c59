"""The DNS publisher's status file in a host store directory (``dli`` and the doctor read it).

Apart from ``dns/publisher.py`` so that reading it needs no dnspython: every host process
reads the status for its snapshot, and one that publishes nothing never loads the resolver
and update machinery (bench/README.md, "Memory (this wave)").
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import msgspec

from openkms.core.host import PublishStatus

__all__ = ["STATUS_FILE", "read_status"]

STATUS_FILE: Final = "dns-status.json"


def read_status(directory: Path) -> PublishStatus | None:
    """The publisher's last status in a host store directory (None if it never ran)."""
    try:
        return msgspec.json.decode((directory / STATUS_FILE).read_bytes(), type=PublishStatus)
    except (OSError, msgspec.DecodeError):
        return None
