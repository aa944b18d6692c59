"""The ``openkms host`` group: its options, and its commands imported when used.

``openkms host serve`` loads the serving commands (``cli/host_serve.py``) and nothing of the
others: the licence and settings commands (``cli/host.py``), DNS (``cli/host_dns.py``: the
update machinery of dnspython), the telephone activation (``cli/phone.py``: the client and
the publisher's modules), updates (``cli/host_updates.py``). That is memory a serving host
never uses (bench/README.md, "Memory (this wave)"); listing the commands (``--help``) and
walking the tree (docs, tests) load them all, as for the top-level groups (``cli/_lazy.py``).
"""

from __future__ import annotations

from pathlib import Path

import click

from openkms.cli._common import HostContext, OpenKMSGroup, config_default, store_option
from openkms.cli._language import localize_tree
from openkms.cli._lazy import LazyCommands
from openkms.host.config import HostConfig
from openkms.host.state import HostState

__all__ = ["host"]

_ADMIN = "openkms.cli.host"
_COMMANDS = {
    "ipk": f"{_ADMIN}:ipk",
    "activation-request": f"{_ADMIN}:activation_request",
    "install-certificate": f"{_ADMIN}:install_certificate",
    "ato": f"{_ADMIN}:ato",
    "check": f"{_ADMIN}:check",
    "xpr": f"{_ADMIN}:xpr",
    "upk": f"{_ADMIN}:upk",
    "cpky": f"{_ADMIN}:cpky",
    "dli": f"{_ADMIN}:dli",
    "dlv": f"{_ADMIN}:dlv",
    "sprt": f"{_ADMIN}:sprt",
    "sai": f"{_ADMIN}:sai",
    "sri": f"{_ADMIN}:sri",
    "sdns": f"{_ADMIN}:sdns",
    "cdns": f"{_ADMIN}:cdns",
    "spri": f"{_ADMIN}:spri",
    "cpri": f"{_ADMIN}:cpri",
    "events": f"{_ADMIN}:events",
    "dns-config": "openkms.cli.host_dns:dns_config",
    "unpublish": "openkms.cli.host_dns:unpublish",
    "serve": "openkms.cli.host_serve:serve",
    "show-config": "openkms.cli.host_serve:show_config",
    "backup": "openkms.cli.host_serve:backup",
    "restore": "openkms.cli.host_serve:restore",
    "dti": "openkms.cli.phone:host_dti",
    "atp": "openkms.cli.phone:host_atp",
    "install-revocations": "openkms.cli.host_updates:install_revocations_command",
    "install-trust": "openkms.cli.host_updates:install_trust_command",
    "fetch-updates": "openkms.cli.host_updates:fetch_updates_command",
}


@click.group(cls=OpenKMSGroup, commands=LazyCommands(_COMMANDS, localize_tree))
@store_option("host", required=False)
@click.option("--machine-name", help="This host's name (default: the host name).")
@click.pass_context
def host(ctx: click.Context, store_dir: Path | None, machine_name: str | None) -> None:
    """A KMS host: counts clients and activates them."""
    # No store yet: 'serve --config' reads it from the file; other commands ask for it.
    state = HostState(store_dir) if store_dir is not None else None
    name = machine_name or config_default(HostConfig, "machine_name")
    ctx.obj = HostContext(state, name)
