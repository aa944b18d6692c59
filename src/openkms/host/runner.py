"""How a long-running program drives its event loop: uvloop where it is installed."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

_uvloop_factory: Callable[[], asyncio.AbstractEventLoop] | None
try:  # uvloop is a dependency of the host extra, except on Windows where it does not exist
    from uvloop import new_event_loop as _uvloop_factory
except ImportError:  # pragma: no cover - Windows, or the client-only install
    _uvloop_factory = None

__all__ = ["loop_factory", "run"]

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event-loop factory the host runs on: uvloop's when installed, else asyncio's."""
    return _uvloop_factory


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a new event loop (uvloop when installed).

    What the process holds by now (its modules, its configuration) lives as long as it
    does, so it is moved out of the garbage collector's reach first (``gc.freeze``): the
    full collections that serving triggers then walk only what serving allocates, instead of
    pausing the event loop for the tens of thousands of start-up objects each time
    (``bench/README.md``, "the front").
    """
    gc.collect()
    gc.freeze()
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(coro)
