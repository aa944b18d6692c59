"""Servers the tests start die with the process that started them.

A test run killed from outside (Ctrl-C twice, a CI timeout, SIGKILL) cannot run its
fixtures' teardown, and a PostgreSQL or BIND9 server left behind would hold its port and
data directory until someone finds it. Linux sends a child a chosen signal when its parent
dies (``PR_SET_PDEATHSIG``); :func:`die_with_parent` asks for SIGTERM, as the ``preexec_fn``
of ``subprocess.Popen``. The signal follows the death of the starting *thread*: start
servers from the main thread (fixtures do).
"""

from __future__ import annotations

import ctypes
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child between fork and exec: SIGTERM when the parent dies (Linux; else no-op)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        return
