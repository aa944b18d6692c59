"""Phone activation commands: ``dti`` and ``atp`` on a client or a host, ``publisher confirm``.

Each group registers these with one line (``group.add_command(...)``).
"""

from __future__ import annotations

from pathlib import Path

import click

from openkms.cli._common import echo_json
from openkms.publisher import Publisher
from openkms.publisher.phone import confirm_installation

__all__ = ["publisher_confirm"]


@click.command("confirm")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.argument("installation_id", nargs=-1, required=True)
@click.option(
    "--days",
    type=click.IntRange(1, 4095),
    default=None,
    help="Validity granted (default: 3650 for a MAK, the catalog's certificate_days for a host).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def publisher_confirm(
    directory: Path, installation_id: tuple[str, ...], days: int | None, as_json: bool
) -> None:
    """Confirm an installation ID read out by phone: print the confirmation ID to read back.

    The key's limits and blocks apply as for online activation, and the activation is
    recorded. The installation ID may be typed with or without spaces between its groups.
    """
    confirmation = confirm_installation(Publisher(directory), " ".join(installation_id), days)
    if as_json:
        echo_json(confirmation)
        return
    click.echo(
        f"Installation ID of a {confirmation.kind.upper()} activation "
        f"(key ending {confirmation.partial_product_key}, {confirmation.product})."
    )
    click.echo(f"Valid for {confirmation.days} days, until {confirmation.valid_until}.")
    click.echo("Confirmation ID (read it back group by group):")
    groups = confirmation.confirmation_id.split()
    for row in range(0, len(groups), 5):
        letters = "ABCDEFGHIJKLMNOPQRST"[row : row + 5]
        click.echo(
            "  "
            + "  ".join(f"{n}: {g}" for n, g in zip(letters, groups[row : row + 5], strict=True))
        )
