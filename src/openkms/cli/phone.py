"""Phone activation commands: ``dti`` and ``atp`` on a client or a host, ``publisher confirm``.

Each group registers these with one line (``group.add_command(...)``).
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from openkms.cli._common import echo_json, host_state
from openkms.client.api import Client
from openkms.core.phone import InstallationId
from openkms.errors import OpenKMSError
from openkms.host.phone import host_installation_id, install_confirmation
from openkms.i18n import _
from openkms.localformat import format_date
from openkms.publisher import Publisher
from openkms.publisher.phone import confirm_installation
from openkms.publisher.records import DATABASE_ENV

__all__ = ["client_atp", "client_dti", "host_atp", "host_dti", "publisher_confirm"]

_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
_CID = click.argument("confirmation_id", nargs=-1, required=True)


def _print_installation_id(iid: InstallationId, as_json: bool) -> None:
    if as_json:
        echo_json({"installation_id": str(iid), "kind": iid.kind.name.lower()})
        return
    click.echo(_("Installation ID: {id}").format(id=iid))
    click.echo(
        _(
            "Read it to the publisher (openkms publisher confirm DIR ID); install the "
            "confirmation ID it reads back with 'atp CONFIRMATION-ID'."
        )
    )


def _client(ctx: click.Context) -> Client:
    found = ctx.find_object(Client)
    if found is None:
        raise OpenKMSError(
            _("no store directory was given"),
            fix=_(
                "Give it before the command: 'openkms client --store DIR COMMAND' (or set "
                "OPENKMS_STORE)."
            ),
        )
    return found


@click.command("dti")
@_JSON
@click.pass_context
def client_dti(ctx: click.Context, as_json: bool) -> None:
    """Display the installation ID for phone activation of a MAK (reads only)."""
    _print_installation_id(_client(ctx).installation_id(), as_json)


@click.command("atp")
@_CID
@click.pass_context
def client_atp(ctx: click.Context, confirmation_id: tuple[str, ...]) -> None:
    """Activate a MAK with the confirmation ID the publisher read back (phone activation)."""
    license = _client(ctx).install_confirmation(" ".join(confirmation_id))
    click.echo(
        _("Confirmation ID installed: product activated (MAK) until {date}.").format(
            date=format_date(license.ends_at or 0)
        )
    )


@click.command("dti")
@_JSON
@click.pass_context
def host_dti(ctx: click.Context, as_json: bool) -> None:
    """Display the installation ID for phone activation (reads only)."""
    _print_installation_id(host_installation_id(host_state(ctx), int(time.time())), as_json)


@click.command("atp")
@_CID
@click.pass_context
def host_atp(ctx: click.Context, confirmation_id: tuple[str, ...]) -> None:
    """Activate with the confirmation ID the publisher read back (phone activation)."""
    cert = install_confirmation(host_state(ctx), " ".join(confirmation_id), int(time.time()))
    click.echo(
        _("Confirmation ID installed: license group {group}, valid until {date}.").format(
            group=cert.group, date=format_date(cert.expires_at)
        )
    )


@click.command("confirm")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.argument("installation_id", nargs=-1, required=True)
@click.option(
    "--days",
    type=click.IntRange(1, 4095),
    default=None,
    help="Validity granted (default: 3650 for a MAK, the catalog's certificate_days for a host).",
)
@click.option(
    "--database",
    envvar=DATABASE_ENV,
    help="PostgreSQL DSN of the records (else OPENKMS_PUBLISHER_DATABASE, else DIR/publisher.db).",
)
@_JSON
def publisher_confirm(
    directory: Path,
    installation_id: tuple[str, ...],
    days: int | None,
    database: str | None,
    as_json: bool,
) -> None:
    """Confirm an installation ID read out by phone: print the confirmation ID to read back.

    The key's limits and blocks apply as for online activation, and the activation is
    recorded. The installation ID may be typed with or without spaces between its groups.
    """
    publisher = Publisher(directory, database=database)
    confirmation = confirm_installation(publisher, " ".join(installation_id), days)
    if as_json:
        echo_json(confirmation)
        return
    click.echo(
        _("Installation ID of a {kind} activation (key ending {partial}, {product}).").format(
            kind=confirmation.kind.upper(),
            partial=confirmation.partial_product_key,
            product=confirmation.product,
        )
    )
    click.echo(
        _("Valid for {days} days, until {date}.").format(
            days=confirmation.days, date=confirmation.valid_until
        )
    )
    click.echo(_("Confirmation ID (read it back group by group):"))
    groups = confirmation.confirmation_id.split()
    for row in range(0, len(groups), 5):
        letters = "ABCDEFGHIJKLMNOPQRST"[row : row + 5]
        click.echo(
            "  "
            + "  ".join(f"{n}: {g}" for n, g in zip(letters, groups[row : row + 5], strict=True))
        )
