"""What the store's writer process imports: the store's writer and nothing of the rest.

Every host runs one writer process (``python -m openkms.store._writer_process``), and what it
imports is resident for as long as the host serves: asyncio alone (with OpenSSL through
``ssl``) is 6 MiB of it. Target 4 of issue 15 counts the host's processes together
(bench/README.md, "Memory (this wave)"); ``tests/integration/test_serving_imports.py`` checks
the serving front the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys

# Modules the writer process has no use for, each a few hundred KiB to several MiB resident.
WRITER_NEVER = (
    "aiohttp",
    "argparse",
    "_hashlib",
    "asyncio",
    "asyncpg",
    "click",
    "cryptography",
    "dns",
    "nacl",
    "ssl",
    "tempfile",
    "uvloop",
    "openkms.client",
    "openkms.core.keys",
    "openkms.core.trust",
    "openkms.store._open",
    "openkms.store._process_writer",
    "openkms.store._sqlite_reader",
    "openkms.store.sqlite",
)


def imported_by(*args: str) -> set[str]:
    """Every module that ``python -X importtime ARGS`` imported (its report on stderr)."""
    # Without the coverage of a ``--cov`` run: it starts in every child and imports its own.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COV_CORE_", "COVERAGE_"))}
    run = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    lines = [line for line in run.stderr.splitlines() if line.startswith("import time:")]
    names = {line.rsplit("|", 1)[1].strip() for line in lines[1:]}  # [0] is the header
    assert names, run.stderr
    return names


def test_the_writer_process_starts_without_what_it_never_uses() -> None:
    # The real entry point, as ProcessWriter starts it; no arguments: it imports everything,
    # then stops at its usage line.
    loaded = imported_by("-m", "openkms.store._writer_process")
    assert {"sqlite3", "msgspec", "openkms.store._sqlite_writer"} <= loaded
    assert sorted(name for name in WRITER_NEVER if name in loaded) == []


def test_importing_the_package_imports_none_of_its_modules() -> None:
    # `python -m openkms.X` imports the package first; its public names load on first use.
    loaded = imported_by("-c", "import openkms")
    assert sorted(name for name in loaded if name.startswith("openkms.")) == []
    assert {"asyncio", "hashlib", "secrets"}.isdisjoint(loaded)


def test_the_public_names_still_load_on_first_use() -> None:
    code = "import openkms; print(openkms.ProductKey.__module__, openkms.Client.__module__)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["openkms.core.keys", "openkms.client.api"]


def test_the_writer_process_refuses_a_command_line_it_does_not_know() -> None:
    base = [sys.executable, "-m", "openkms.store._writer_process"]
    numbers = ["--retention", "1", "--batch-max", "1", "--window-days", "30", "--cap-factor", "2"]
    for args in (["--fd", "x", *numbers, "store"], ["--fd", "3", *numbers], ["--fd", "3"]):
        run = subprocess.run([*base, *args], capture_output=True, text=True, timeout=60)
        assert run.returncode != 0
        assert "usage: openkms-store-writer --fd N" in run.stderr
        assert "Traceback" not in run.stderr
