"""Generate docs/cli.md from the commands' --help; with --check, fail if it is out of date."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from openkms.cli.main import cli

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def _walk(command: click.Command, path: list[str]) -> list[tuple[list[str], str]]:
    with click.Context(command, info_name=" ".join(path), terminal_width=100) as ctx:
        text = command.get_help(ctx)
    out = [(path, text)]
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            if not command.commands[name].hidden:  # aliases (vendor) are named in their help
                out += _walk(command.commands[name], [*path, name])
    return out


def render() -> str:
    """The whole reference, one section per command."""
    parts = [
        "# Command-line reference\n",
        "Generated from `--help` by `scripts/gen_cli_docs.py`; CI fails when it is stale.\n",
    ]
    for path, text in _walk(cli, ["openkms"]):
        level = "#" * min(len(path) + 1, 4)
        parts.append(f"{level} `{' '.join(path)}`\n\n```text\n{text.rstrip()}\n```\n")
    return "\n".join(parts)


def main() -> int:
    """Write (or --check) docs/cli.md."""
    text = render()
    if "--check" in sys.argv:
        if not DOC.exists() or DOC.read_text() != text:
            print("docs/cli.md is out of date: run .venv/bin/python scripts/gen_cli_docs.py")
            return 1
        return 0
    DOC.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
