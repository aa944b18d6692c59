"""Subcommands imported when they are used, so that each command loads only its own modules.

``openkms host serve`` never imports the publisher's, the client's or the doctor's command
modules (nor what they import: the doctor's readers, the phone and MAK code, ...): the serving
host keeps that memory (bench/README.md, target 4 of the performance work) and every command
starts faster. Listing the commands (``--help``) and walking the tree (docs, tests) load them
all, as before.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping

import click

__all__ = ["LazyCommands"]


class LazyCommands(MutableMapping[str, click.Command]):
    """A group's commands by name: those given, and those named ``"module:attribute"``,
    imported on first access and handed to ``on_load`` (e.g. to localize their help)."""

    def __init__(
        self,
        where: Mapping[str, str],
        on_load: Callable[[click.Command], None],
        loaded: Mapping[str, click.Command] | None = None,
    ) -> None:
        self._where = dict(where)
        self._loaded: dict[str, click.Command] = dict(loaded or {})
        self._on_load = on_load

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            module, _sep, attribute = self._where[name].partition(":")  # KeyError: unknown
            command = getattr(importlib.import_module(module), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self._where[name]} is not a click command")
            self._on_load(command)
            self._loaded[name] = command
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command
        self._where.pop(name, None)

    def __delitem__(self, name: str) -> None:
        if name not in self._loaded and name not in self._where:
            raise KeyError(name)
        self._loaded.pop(name, None)
        self._where.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*self._where, *self._loaded]))

    def __len__(self) -> int:
        return len(self._where.keys() | self._loaded.keys())

    def loaded(self) -> list[click.Command]:
        """The commands imported so far (nothing is imported)."""
        return list(self._loaded.values())
