"""What every command shares: error printing, JSON output, the clock."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
import msgspec

from openkms.errors import OpenKMSError

__all__ = ["OpenKMSGroup", "echo_json", "fail"]


class OpenKMSGroup(click.Group):
    """A click group that prints OpenKMS errors the slmgr way and exits non-zero."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; an OpenKMSError becomes 'Error: 0x... message' and exit 1."""
        try:
            return super().invoke(ctx)
        except OpenKMSError as exc:
            fail(exc)


def fail(exc: OpenKMSError) -> None:
    """Print an error with its code and fix, then exit 1."""
    click.echo(f"Error: {exc.code.hex} {exc.message}", err=True)
    if exc.fix:
        click.echo(f"Fix: {exc.fix}", err=True)
    sys.exit(1)


def echo_json(value: object) -> None:
    """Print a struct, dataclass or plain value as indented JSON."""
    data = json.loads(msgspec.json.encode(value))
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))
