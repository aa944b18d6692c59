"""Log lines a hostile peer can provoke, written at most once per interval."""

from __future__ import annotations

import logging
import time
from typing import Final

__all__ = ["ThrottledLog"]

_INTERVAL: Final = 1.0


class ThrottledLog:
    """At most one WARNING line per ``interval`` seconds; the rest are counted and the
    next line says how many were left out."""

    __slots__ = ("_interval", "_log", "_next", "_suppressed")

    def __init__(self, log: logging.Logger, interval: float = _INTERVAL) -> None:
        self._log = log
        self._interval = interval
        self._next = 0.0
        self._suppressed = 0

    def warning(self, message: str, *args: object) -> None:
        """Log ``message % args`` as a WARNING unless one was written less than an interval ago."""
        now = time.monotonic()
        if now < self._next:
            self._suppressed += 1
            return
        self._next = now + self._interval
        if self._suppressed:
            message += " (and %d more like it in the last %.0fs)"
            args = (*args, self._suppressed, self._interval)
            self._suppressed = 0
        self._log.warning(message, *args)
