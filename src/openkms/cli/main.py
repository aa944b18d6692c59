"""``openkms``: the top-level command."""

from __future__ import annotations

import click

from openkms import __version__
from openkms.cli._common import OpenKMSGroup
from openkms.cli.client import client
from openkms.cli.demo import demo
from openkms.cli.host import host
from openkms.cli.slmgr import slmgr_command
from openkms.cli.vendor import vendor

__all__ = ["cli", "main"]


@click.group(cls=OpenKMSGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="openkms")
def cli() -> None:
    """OpenKMS: volume activation for your own products, with troubleshooting built in."""


cli.add_command(vendor)
cli.add_command(host)
cli.add_command(client)
cli.add_command(demo)
cli.add_command(slmgr_command)


def _add_doctor() -> None:
    try:
        from openkms.doctor.cli import doctor
    except ImportError:  # pragma: no cover - the doctor is part of the package
        return
    cli.add_command(doctor)


_add_doctor()


def main() -> None:
    """Entry point of the ``openkms`` script."""
    cli()
