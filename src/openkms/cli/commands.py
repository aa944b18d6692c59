"""The ``openkms`` command groups, built in one place for ``main`` and ``slmgr``.

``slmgr`` translates its Windows spelling into an ``openkms`` command line and runs it through
a group built here, so neither module imports the other's command.
"""

from __future__ import annotations

import click

from openkms import __version__
from openkms.cli._common import OpenKMSGroup
from openkms.cli._language import lang_option, localize_tree, speak_click
from openkms.cli._lazy import LazyCommands
from openkms.i18n import N_

__all__ = ["build_group"]


# Imported when used (cli/_lazy.py): 'openkms host serve' loads no other command's modules.
_COMMANDS = {
    "publisher": "openkms.cli.publisher:publisher",
    "vendor": "openkms.cli.publisher:vendor",
    "host": "openkms.cli.host_group:host",
    "client": "openkms.cli.client:client",
    "demo": "openkms.cli.demo:demo",
    "doctor": "openkms.doctor.cli:doctor",
}


def _root() -> None:
    """Nothing to do before a subcommand (the group's help is ``help=`` below)."""


def build_group(*extra: click.Command) -> OpenKMSGroup:
    """The ``openkms`` group: publisher (alias vendor), host, client, demo, doctor, ``extra``.

    Its help, its click messages and its commands' help speak the current language.
    """
    commands = LazyCommands(
        _COMMANDS, localize_tree, {command.name or "": command for command in extra}
    )
    group = OpenKMSGroup(
        "openkms",
        callback=_root,
        help=N_("OpenKMS: volume activation for your own products, with troubleshooting built in."),
        commands=commands,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    speak_click()
    group = click.version_option(__version__, prog_name="openkms")(lang_option()(group))
    localize_tree(group)
    return group
