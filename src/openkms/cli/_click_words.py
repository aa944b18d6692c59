"""Click's own messages and the metavar words of the help, for the ``cli`` catalog.

Click translates its messages with the standard library's gettext (``cli/_language.py`` points
it at OpenKMS's catalog); they are not in OpenKMS's sources, so they are listed here for
``scripts/i18n.py extract``. Only what a user of ``openkms`` and ``slmgr`` can see is listed:
click's messages for programmers (a command defined twice, a bad parameter declaration) stay
English. The words of the metavars ("KEY", "DIR", "TEXT") are here too: the help shows them
translated ("CLÉ", "RÉP", "TEXTE").
"""

from __future__ import annotations

from openkms.i18n import N_, ngettext

__all__ = ["CLICK_MESSAGES", "METAVAR_WORDS", "click_plurals"]

CLICK_MESSAGES: tuple[str, ...] = (
    N_("Usage:"),
    N_("{heading}:"),
    N_("Options"),
    N_("Commands"),
    N_("Positional arguments"),
    N_("Show this message and exit."),
    N_("Show the version and exit."),
    N_("%(prog)s, version %(version)s"),
    N_("Aborted!"),
    N_("Missing command."),
    N_("env var: {var}"),
    N_("default: {default}"),
    N_("required"),
    N_("(dynamic)"),
    N_("deprecated"),
    N_("Do you want to continue?"),
    N_("Confirm the action without prompting."),
    N_("Error: {message}"),
    N_("Try '{command} {option}' for help."),
    N_("Invalid value: {message}"),
    N_("Invalid value for {param_hint}: {message}"),
    N_("Missing argument"),
    N_("Missing option"),
    N_("Missing parameter"),
    N_("Missing {param_type}"),
    N_("Missing parameter: {param_name}"),
    N_("No such option {name!r}."),
    N_("No such command {name!r}."),
    N_("unknown error"),
    N_("Could not open file {filename!r}: {message}"),
    N_("Invalid start character for option ({option})"),
    N_("Argument {name!r} takes {nargs} values."),
    N_("Option {name!r} does not take a value."),
    N_("Value must be an iterable."),
    N_("Repeat for confirmation"),
    N_("Error: The two entered values do not match."),
    N_("Error: invalid input"),
    N_("Press any key to continue..."),
    N_("Choose from:\n\t{choices}"),
    N_("{value!r} is not a valid {number_type}."),
    N_("{value} is not in the range {range}."),
    N_("{value!r} is not a valid boolean. Recognized values: {states}"),
    N_("{value!r} is not a valid UUID."),
    N_("file"),
    N_("directory"),
    N_("path"),
    N_("{name} {filename!r} does not exist."),
    N_("{name} {filename!r} is a file."),
    N_("{name} {filename!r} is a directory."),
    N_("{name} {filename!r} is not readable."),
    N_("{name} {filename!r} is not writable."),
    N_("{name} {filename!r} is not executable."),
)

# The metavars of the command tree, as click makes them: option types (TEXT, INTEGER...),
# argument names (KEY, DIRECTORY...) and the usage line's [OPTIONS] and COMMAND [ARGS]....
METAVAR_WORDS: tuple[str, ...] = (
    N_("OPTIONS"),
    N_("COMMAND [ARGS]..."),
    N_("TEXT"),
    N_("INTEGER"),
    N_("FLOAT"),
    N_("PATH"),
    N_("FILE"),
    N_("DIRECTORY"),
    N_("FILENAME"),
    N_("INTEGER RANGE"),
    N_("FLOAT RANGE"),
    N_("LANG"),
    N_("KEY"),
    N_("ADDRESS"),
    N_("DOMAIN"),
    N_("PORT"),
    N_("MINUTES"),
    N_("CODE"),
    N_("FILES"),
    N_("REQUEST"),
    N_("CERTIFICATE"),
    N_("BACKUP_FILE"),
    N_("HOST-ID"),
    N_("INSTALLATION_ID"),
    N_("CONFIRMATION_ID"),
    N_("ARGV"),
)


def click_plurals(count: int) -> list[str]:
    """Click's messages with a plural, in the current language (listed for the catalog)."""
    return [
        ngettext(
            "Got unexpected extra argument ({args})",
            "Got unexpected extra arguments ({args})",
            count,
        ),
        ngettext(
            "Takes {nargs} values but 1 was given.",
            "Takes {nargs} values but {len} were given.",
            count,
        ),
        ngettext("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)", count),
        ngettext(
            "Option {name!r} requires an argument.",
            "Option {name!r} requires {nargs} arguments.",
            count,
        ),
        ngettext("{value!r} is not {choice}.", "{value!r} is not one of {choices}.", count),
        ngettext(
            "{value!r} does not match the format {format}.",
            "{value!r} does not match the formats {formats}.",
            count,
        ),
        ngettext(
            "{len_type} values are required, but {len_value} was given.",
            "{len_type} values are required, but {len_value} were given.",
            count,
        ),
    ]
