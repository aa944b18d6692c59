"""The ``openkms`` command groups, built in one place for ``main`` and ``slmgr``.

``slmgr`` translates its Windows spelling into an ``openkms`` command line and runs it through
a group built here, so neither module imports the other's command.
"""

from __future__ import annotations

import click

from openkms import __version__
from openkms.cli._common import OpenKMSGroup, lang_option
from openkms.cli.client import client
from openkms.cli.demo import demo
from openkms.cli.host import host
from openkms.cli.publisher import publisher, vendor
from openkms.doctor.cli import doctor

__all__ = ["build_group"]


def _root() -> None:
    """OpenKMS: volume activation for your own products, with troubleshooting built in."""


def build_group(*extra: click.Command) -> OpenKMSGroup:
    """The ``openkms`` group: publisher (alias vendor), host, client, demo, doctor, ``extra``."""
    commands: list[click.Command] = [publisher, vendor, host, client, demo, doctor, *extra]
    group = OpenKMSGroup(
        "openkms",
        callback=_root,
        help=_root.__doc__,
        commands={command.name or "": command for command in commands},
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    return click.version_option(__version__, prog_name="openkms")(lang_option()(group))
