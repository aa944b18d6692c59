"""``slmgr``: Windows spelling (``/dli``, ``-ato``, ``/skms host:port``) over a store.

The store is a host's or a client's according to what is installed in it; on an empty
store, ``/ipk`` decides by the kind of key.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from openkms.cli._common import fail
from openkms.cli._language import lang_option
from openkms.cli.commands import build_group
from openkms.core.codes import ResultCode
from openkms.core.keys import KeyKind, ProductKey
from openkms.errors import OpenKMSError
from openkms.i18n import N_, _

__all__ = ["main", "slmgr_command", "translate"]

_BOTH = {"dli", "dlv", "ipk", "upk", "cpky", "xpr", "events", "ato", "dti", "atp"}
_HOST_ONLY = {"sprt", "sai", "sri", "sdns", "cdns", "spri", "cpri"}
_CLIENT_ONLY = {"skms", "ckms", "skms-domain", "ckms-domain", "skhc", "ckhc", "rearm"}
_ALIASES = {"skms_domain": "skms-domain", "ckms_domain": "ckms-domain"}
_HELP = {"?", "h", "help"}
USAGE = N_("""\
slmgr [--store DIR] /OPTION [ARGS]    (the store: --store or OPENKMS_STORE)

On a host or a client:
  /ipk KEY        install a product key (a host key makes a host, a setup key a client)
  /upk            uninstall the product key
  /cpky           clear the product key's text from the store (the partial key stays)
  /dli            display license information; /dlv [all] detailed
  /xpr            when the activation expires
  /events         the event log (12288-12294)
  /ato            activate now (a host: online, with the publisher's service)
  /dti, /atp CID  phone activation (MAK client, host): installation ID, confirmation ID
On a client:
  /rearm          reset the grace period
  /skms HOST[:PORT], /ckms                          use (or forget) a fixed host
  /skms-domain DOMAIN, /ckms-domain                 look hosts up in this domain
  /skhc, /ckhc    (do not) cache the host that activated this machine
On a host:
  /sprt PORT, /sai MINUTES, /sri MINUTES, /sdns, /cdns, /spri, /cpri

Every option is also an 'openkms host' or 'openkms client' command; see 'openkms --help'.""")
# The translated command line runs through an ``openkms`` group without ``slmgr`` in it.
_OPENKMS = build_group()


def _role(store: Path, option: str, args: list[str]) -> str:
    if (store / "host.json").exists():
        return "host"
    if (store / "client.json").exists():
        return "client"
    if option == "ipk" and args:
        return "host" if ProductKey.parse(args[0]).kind is KeyKind.HOST else "client"
    if option in _HOST_ONLY:
        return "host"
    return "client"


def translate(argv: list[str], store: Path) -> list[str]:
    """``['/dli']`` -> ``['client', '--store', STORE, 'dli']`` (or host)."""
    if not argv or argv[0][:1] not in "/-":
        raise OpenKMSError(
            _("usage: slmgr /OPTION [ARGS]  (e.g. /dli, /ato, /skms host:port)"),
            code=ResultCode.INVALID_ARGUMENT,
        )
    option = argv[0][1:].lower()
    option = _ALIASES.get(option, option)
    args = argv[1:]
    if option in ("dli", "dlv") and [a.lower() for a in args] == ["all"]:
        args = []  # one product per store: 'all' is that one
    if option not in _BOTH | _HOST_ONLY | _CLIENT_ONLY:
        raise OpenKMSError(
            _("unknown option /{option}").format(option=option),
            code=ResultCode.INVALID_ARGUMENT,
            fix=_("Run 'slmgr /?' for the options."),
        )
    role = _role(store, option, args)
    if role == "host" and option in _CLIENT_ONLY:
        raise OpenKMSError(
            _("/{option} applies to a client; {store} is a host").format(
                option=option, store=store
            ),
            code=ResultCode.INVALID_ARGUMENT,
            fix=_("On a host: 'slmgr /ato' (online) or the activation-request file path."),
        )
    if role == "client" and option in _HOST_ONLY:
        raise OpenKMSError(
            _("/{option} applies to a host; {store} is a client").format(
                option=option, store=store
            ),
            fix=_("Run it with the store of a host: 'slmgr --store HOST_STORE /OPTION'."),
        )
    extra: list[str] = []
    trust = os.environ.get("OPENKMS_TRUST")
    if option == "ipk" and trust:
        extra = ["--trust", trust]
    return [role, "--store", str(store), option, *args, *extra]


@click.command(
    "slmgr",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option(
    "--store",
    envvar="OPENKMS_STORE",
    type=click.Path(file_okay=False, path_type=Path),
    help=N_("Store directory (or OPENKMS_STORE)."),
)
@lang_option()
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def slmgr_command(store: Path | None, argv: tuple[str, ...]) -> None:
    """Windows spelling: slmgr /dli, /dlv, /ato, /ipk KEY, /skms HOST:PORT, /xpr, ..."""
    if not argv or argv[0][1:].lower() in _HELP:
        click.echo(_(USAGE))
        return
    try:
        if store is None:
            raise OpenKMSError(
                _("no store directory was given"),
                fix=_("Give it as 'slmgr --store DIR /OPTION' or set OPENKMS_STORE."),
            )
        translated = translate(list(argv), store)
    except OpenKMSError as exc:
        fail(exc)
    _OPENKMS.main(translated, prog_name="slmgr")


def main() -> None:
    """Entry point of the ``slmgr`` script."""
    slmgr_command.main(sys.argv[1:], prog_name="slmgr")
