"""``openkms``: the top-level command."""

from __future__ import annotations

from openkms.cli.commands import build_group
from openkms.cli.slmgr import slmgr_command

__all__ = ["cli", "main"]

cli = build_group(slmgr_command)


def main() -> None:
    """Entry point of the ``openkms`` script."""
    cli()
