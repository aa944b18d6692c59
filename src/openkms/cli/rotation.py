"""``openkms publisher rotate-root DIR``: a new root key, cross-signed by the old one."""

from __future__ import annotations

from pathlib import Path

import click

from openkms.cli._common import echo_json
from openkms.i18n import _
from openkms.publisher.rotation import rotate_root

__all__ = ["rotate_root_command"]


@click.command("rotate-root")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def rotate_root_command(directory: Path, as_json: bool) -> None:
    """Make a new root key, cross-signed by the old one; re-sign the catalog under it.

    The old key is kept as root.key.N.retired (0600). Certificates it issued keep
    verifying until they expire; distribute the new trust.json to hosts and clients.
    """
    done = rotate_root(directory)
    trust = done.trust
    if as_json:
        echo_json(
            {
                "rotation": done.sequence,
                "previous_key": done.previous_key,
                "publisher_key": done.new_key,
                "retired_key_file": str(done.retired_file),
                "catalog_serial": trust.catalog.serial,
                "trust": str(directory / "trust.json"),
            }
        )
        return
    click.echo(
        _("Root key rotated (rotation {number}) in {path}").format(
            number=done.sequence, path=directory
        )
    )
    click.echo(_("  new key      {key}").format(key=done.new_key))
    click.echo(
        _("  retired key  {key} -> {path} (keep it offline)").format(
            key=done.previous_key, path=done.retired_file
        )
    )
    click.echo(
        _("  catalog      serial {serial}, new phone key").format(serial=trust.catalog.serial)
    )
    click.echo(
        _("  trust        {path} (signed by the new key, with the chain)").format(
            path=directory / "trust.json"
        )
    )
    click.echo(
        _(
            "Distribute trust.json to every host (host ipk KEY --trust FILE) and client\n"
            "(client ipk KEY --trust FILE). Applications pinned to the old key keep working;\n"
            "pin the new key in new releases: Client.open(directory, publisher_key=NEW).\n"
            "Certificates issued before keep verifying until they expire."
        )
    )
