"""What every command shares: the error printer, the typed context, JSON output, defaults."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
import msgspec

from openkms.errors import OpenKMSError
from openkms.host.state import HostState
from openkms.i18n import N_, _

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "HostContext",
    "OpenKMSGroup",
    "config_default",
    "echo_json",
    "fail",
    "host_context",
    "host_state",
    "setup_logging",
    "store_option",
]


class OpenKMSGroup(click.Group):
    """A click group that prints OpenKMS errors the slmgr way and exits non-zero."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; an OpenKMSError is printed by :func:`fail` and exits 1."""
        try:
            return super().invoke(ctx)
        except OpenKMSError as exc:
            fail(exc)


def fail(exc: OpenKMSError, exit_code: int = 1) -> NoReturn:
    """The one error printer of every command: ``Error: CODE message``, ``Fix: ...``, exit."""
    click.echo(
        _("Error: {code} {message}").format(code=exc.code.hex, message=exc.message), err=True
    )
    if exc.fix:
        click.echo(_("Fix: {fix}").format(fix=exc.fix), err=True)
    sys.exit(exit_code)


@dataclasses.dataclass(frozen=True, slots=True)
class HostContext:
    """What the ``host`` group hands its commands: the host's state and this machine's name.

    ``given_state`` is None without ``--store``: ``serve --config`` takes the store from the
    configuration file; every other command asks for it through ``state``.
    """

    given_state: HostState | None
    machine_name: str

    @property
    def state(self) -> HostState:
        """The host's state; an error naming the fix when no store was given."""
        if self.given_state is None:
            raise OpenKMSError(
                _("no store directory was given"),
                fix=_(
                    "Give it before the command: 'openkms host --store DIR COMMAND' (or set "
                    "OPENKMS_STORE)."
                ),
            )
        return self.given_state


def host_context(ctx: click.Context) -> HostContext:
    """The HostContext the ``host`` group put in the context."""
    found = ctx.find_object(HostContext)
    if found is None:  # only when a host command is invoked outside its group
        raise click.UsageError(_("this command runs under 'openkms host --store DIR'"))
    return found


def host_state(ctx: click.Context) -> HostState:
    """The HostState the ``host`` group put in the context."""
    return host_context(ctx).state


def config_default(config: type[Any], name: str) -> Any:
    """The default of field ``name`` of a config dataclass: the CLI repeats no literal."""
    for field in dataclasses.fields(config):
        if field.name == name:
            if field.default is dataclasses.MISSING:
                raise TypeError(f"{config.__name__}.{name} has no default")
            return field.default
    raise TypeError(f"{config.__name__} has no field {name!r}")


def echo_json(value: object) -> None:
    """Print a struct, dataclass or plain value as indented JSON."""
    data = json.loads(msgspec.json.encode(value))
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


# The help of ``--store`` by role (whole sentences, for the translations).
_STORE_HELP = {
    "host": N_("The host's store directory (or OPENKMS_STORE)."),
    "client": N_("The client's store directory (or OPENKMS_STORE)."),
}


def store_option(role: str, *, required: bool = True) -> Callable[[F], F]:
    """The ``--store DIR`` option (or ``OPENKMS_STORE``) of the host and client groups."""
    return click.option(
        "--store",
        "store_dir",
        envvar="OPENKMS_STORE",
        required=required,
        type=click.Path(file_okay=False, path_type=Path),
        help=_STORE_HELP[role],
    )


def setup_logging(level: str) -> None:
    """Log to stderr, one line per record, for the long-running commands."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
