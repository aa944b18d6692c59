"""The console scripts: a clear message instead of a traceback without the ``host`` extra.

``pip install openkms`` installs the client library only; the commands need click, aiohttp
and the rest of ``openkms[host]``. Importing the command line is tried once, here, and the
scripts say what to install when one of those packages is missing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from openkms.i18n import use_language

__all__ = ["HOST_EXTRA_MODULES", "openkms", "slmgr"]

# Top-level modules that come with the ``host`` extra (see pyproject.toml).
HOST_EXTRA_MODULES = frozenset({"click", "aiohttp", "uvloop", "evtx", "asyncpg", "babel"})

_openkms: Callable[[], None] | None
_slmgr: Callable[[], None] | None
_missing: str | None = None
try:
    from openkms.cli.main import main as _openkms
    from openkms.cli.slmgr import main as _slmgr
except ModuleNotFoundError as exc:
    if (exc.name or "").partition(".")[0] not in HOST_EXTRA_MODULES:
        raise
    _openkms = _slmgr = None
    _missing = exc.name


def _start(main: Callable[[], None] | None) -> None:
    if main is None:
        print(
            f"openkms: the command line needs the '{_missing}' package, which comes with the "
            "host extra.\nFix: pip install 'openkms[host]'",
            file=sys.stderr,
        )
        sys.exit(1)
    use_language()  # from LC_ALL, LC_MESSAGES or LANG; --lang may change it
    main()


def openkms() -> None:
    """Entry point of the ``openkms`` script."""
    _start(_openkms)


def slmgr() -> None:
    """Entry point of the ``slmgr`` script."""
    _start(_slmgr)
