"""The command line in the user's language: click's own words and every command's help.

Click prints its own words ("Usage:", "Error: No such option") through the standard library's
``gettext.gettext``, whose language comes from the environment alone; :func:`speak_click`
points click's modules at :func:`openkms.i18n._` instead, so that ``--lang`` (and a
``language_scope``) decides for them as for every OpenKMS message. The messages themselves are
in the ``cli`` catalog (``cli/_click_words.py``).

The help texts (command docstrings, ``help=`` of options and arguments) stay English on the
command objects: docs/cli.md is generated from them, and a process may format help in several
languages. :class:`OpenKMSContext` shows them translated only while a help page or a usage
line is formatted, then puts the English back. ``scripts/i18n.py extract`` takes them into the
``cli`` catalog without any marking.
"""

from __future__ import annotations

import contextlib
import gettext
import inspect
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click

from openkms.cli._lazy import LazyCommands
from openkms.i18n import LANGUAGE_NAMES, N_, _, ngettext, use_language

__all__ = [
    "OpenKMSContext",
    "OpenKMSHelpFormatter",
    "lang_option",
    "localize_tree",
    "metavar_text",
    "speak_click",
    "translated_help",
]

F = TypeVar("F", bound=Callable[..., Any])
# Sets an attribute for the time of a help page (translated_help's helper).
_Put = Callable[[object, str, object], None]
# An upper-case word of a metavar ("KEY", "HOST-ID", "INTEGER RANGE"); lower case ("okpk1:...",
# "[en|fr|de]") is not translated.
_METAVAR_WORDS = re.compile(r"[A-Z][A-Z0-9_-]*[A-Z0-9](?: [A-Z][A-Z0-9_-]*[A-Z0-9])*")


# A click module's name -> (the standard library's function it binds, OpenKMS's).
_REBOUND: dict[str, tuple[object, object]] = {
    "_": (gettext.gettext, _),
    "ngettext": (gettext.ngettext, ngettext),
}


def speak_click() -> None:
    """Make click's own messages follow the OpenKMS language (idempotent).

    Each click module binds ``gettext.gettext`` (and ``ngettext``) at import; those bindings
    are pointed at :mod:`openkms.i18n`, which reads the language at call time.
    """
    for name, module in list(sys.modules.items()):
        if name != "click" and not name.startswith("click."):
            continue
        for attribute, (theirs, ours) in _REBOUND.items():
            if getattr(module, attribute, None) is theirs:
                setattr(module, attribute, ours)


def metavar_text(metavar: str) -> str:
    """A metavar in the current language: its upper-case words translated ("[KEY]...")."""
    whole = _(metavar)
    if whole != metavar:
        return whole
    return _METAVAR_WORDS.sub(lambda match: _(match.group()), metavar)


class OpenKMSHelpFormatter(click.HelpFormatter):
    """Click's help formatter, with the language's punctuation after a heading ("Options :")."""

    def write_heading(self, heading: str) -> None:
        """A section heading: ``Options:``, ``Commandes :``."""
        text = _("{heading}:").format(heading=heading)
        self.write(f"{'':>{self.current_indent}}{text}\n")


class OpenKMSContext(click.Context):
    """A click context that formats help and usage in the current language."""

    formatter_class = OpenKMSHelpFormatter

    def get_usage(self) -> str:
        """The usage line, translated (see :func:`translated_help`)."""
        with translated_help(self):
            return super().get_usage()

    def get_help(self) -> str:
        """The help page, translated (see :func:`translated_help`)."""
        with translated_help(self):
            return super().get_help()


@contextlib.contextmanager
def translated_help(ctx: click.Context) -> Iterator[None]:
    """Within the ``with``: the help texts and metavars of ``ctx.command``, its parameters
    and its subcommands (their short help) in the current language; English again after."""
    command = ctx.command
    saved: list[tuple[object, str, object]] = []

    def put(target: object, attribute: str, value: object) -> None:
        saved.append((target, attribute, getattr(target, attribute)))
        setattr(target, attribute, value)

    commands = [command]
    if isinstance(command, click.Group):
        commands += list(command.commands.values())
        if command.subcommand_metavar:
            put(command, "subcommand_metavar", metavar_text(command.subcommand_metavar))
    for each in commands:
        if each.help:
            put(each, "help", _(inspect.cleandoc(each.help)))
        if each.short_help:
            put(each, "short_help", _(inspect.cleandoc(each.short_help)))
    if command.options_metavar:
        put(command, "options_metavar", metavar_text(command.options_metavar))
    for param in command.get_params(ctx):
        _translate_param(param, ctx, put)
    try:
        yield
    finally:
        for target, attribute, value in reversed(saved):
            setattr(target, attribute, value)


def _translate_param(param: click.Parameter, ctx: click.Context, put: _Put) -> None:
    text = getattr(param, "help", None)
    if text:
        put(param, "help", _(text))
    if param.metavar is None and isinstance(param.type, click.Choice | click.DateTime):
        return  # the values themselves, never translated
    if isinstance(param, click.Option) and (param.is_flag or param.count):
        return  # no metavar shown
    put(param, "metavar", metavar_text(param.make_metavar(ctx)))


def _use_language(_ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        use_language(value)


def lang_option(*, hidden: bool = False) -> Callable[[F], F]:
    """``--lang en|fr|de``: the language of every message (default: LC_ALL, LC_MESSAGES or
    LANG); the one definition, for every command.

    Eager, so that it applies before any other option is read; JSON and CSV never change. It
    is shown on ``openkms`` and ``slmgr`` and ``hidden`` on every command below them
    (``openkms host dli --lang fr``): it is documented once. Like ``click.option``, it
    decorates a command's function or a command object.
    """
    return click.option(
        "--lang",
        metavar="LANG",
        expose_value=False,
        is_eager=True,
        hidden=hidden,
        callback=_use_language,
        type=click.Choice(list(LANGUAGE_NAMES)),
        help=N_("Language of the messages: en, fr or de (default: LC_ALL, LC_MESSAGES or LANG)."),
    )


def localize_tree(command: click.Command) -> None:
    """Give ``command`` and every command below it the translating context and ``--lang``
    (idempotent)."""
    command.context_class = OpenKMSContext
    if not any(param.name == "lang" for param in command.params):
        lang_option(hidden=True)(command)
    if isinstance(command, click.Group):
        commands = command.commands
        # Commands not imported yet are localized when they are (cli/_lazy.py).
        subs = commands.loaded() if isinstance(commands, LazyCommands) else commands.values()
        for sub in subs:
            localize_tree(sub)
