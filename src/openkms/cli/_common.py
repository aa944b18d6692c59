"""What every command shares: error printing, JSON output, the clock."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import msgspec

from openkms.errors import OpenKMSError
from openkms.host.state import HostState

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "OpenKMSGroup",
    "echo_json",
    "fail",
    "host_state",
    "setup_logging",
    "store_option",
]


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


def store_option(role: str, *, required: bool = True) -> Callable[[F], F]:
    """The ``--store DIR`` option (or ``OPENKMS_STORE``) of the host and client groups."""
    return click.option(
        "--store",
        "store_dir",
        envvar="OPENKMS_STORE",
        required=required,
        type=click.Path(file_okay=False, path_type=Path),
        help=f"The {role}'s store directory (or OPENKMS_STORE).",
    )


def host_state(ctx: click.Context) -> HostState:
    """The HostState the ``host`` group put in the context."""
    state: HostState | None = ctx.obj[0]
    if state is None:
        raise OpenKMSError(
            "no store directory was given",
            fix="Give it before the command: 'openkms host --store DIR COMMAND' (or set "
            "OPENKMS_STORE).",
        )
    return state


def setup_logging(level: str) -> None:
    """Log to stderr, one line per record, for the long-running commands."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
