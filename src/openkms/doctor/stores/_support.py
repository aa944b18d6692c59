"""What a support bundle adds about the machine: versions, configuration, DNS, the log's tail.

Secrets never go in: the DSN's password is masked, the admin token and the TSIG key are named
by their file only, and nothing of the store directory is copied.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import msgspec

from openkms import __version__
from openkms.core.host_settings import HostSettings
from openkms.dns.srv import system_nameservers, system_search_domains
from openkms.errors import OpenKMSError
from openkms.host.config_file import DEFAULT_CONFIG_PATH, ENV_CONFIG, ServeConfig, load_serve_config
from openkms.host.state import HostState

__all__ = ["SUPPORT_FILES", "support_files"]

SUPPORT_FILES: Final = ("system.txt", "config.txt", "dns.txt", "host-log.txt")
LOG_LINES: Final = 500
_JOURNAL_TIMEOUT: Final = 10.0


def _os_release() -> str:
    try:
        lines = Path("/etc/os-release").read_text(encoding="utf-8").splitlines()
    except OSError:
        return platform.platform()
    fields = dict(line.split("=", 1) for line in lines if "=" in line)
    return fields.get("PRETTY_NAME", platform.platform()).strip('"')


def _system() -> list[str]:
    return [
        f"OpenKMS {__version__}\n",
        f"Python {platform.python_version()} ({sys.executable})\n",
        f"OS {_os_release()}; {platform.platform()}; {platform.machine()}\n",
    ]


def _config(environ: Mapping[str, str]) -> tuple[ServeConfig | None, list[str]]:
    path = Path(environ[ENV_CONFIG]) if environ.get(ENV_CONFIG) else DEFAULT_CONFIG_PATH
    try:
        config = load_serve_config(path if path.is_file() else None, {}, environ)
    except OpenKMSError as exc:
        return None, [f"Error: {exc.code.hex} {exc.message}\n"]
    lines = [f"configuration file: {config.config_file or '(none)'}\n"]
    lines += [f"{s.key} = {s.shown()!r}  ({s.source}: {s.origin})\n" for s in config.settings]
    return config, lines


def _dns(settings: HostSettings | None) -> list[str]:
    lines = [f"resolv.conf nameservers: {[s.address for s in system_nameservers()]}\n"]
    lines.append(f"resolv.conf search: {system_search_domains()}\n")
    if settings is None:
        return [*lines, "(not a host store: no DNS publishing settings)\n"]
    fields = msgspec.structs.asdict(settings)
    return lines + [f"{name} = {value!r}\n" for name, value in fields.items() if "dns" in name]


def _tail(path: Path, count: int) -> list[str]:
    try:
        with path.open(encoding="utf-8", errors="replace") as log:
            return list(deque(log, maxlen=count))
    except OSError as exc:
        return [f"cannot read {path}: {exc.strerror}\n"]


def _journal(count: int) -> list[str]:
    command = ["journalctl", "-u", "openkms", "-n", str(count), "--no-pager", "-o", "short-iso"]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=_JOURNAL_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [f"no journal to read ({exc})\n"]
    return [result.stdout or result.stderr or "(the journal holds no line of openkms)\n"]


def _log(config: ServeConfig | None) -> list[str]:
    log = config.log if config is not None else None
    if log is not None and log.destination == "file" and log.file is not None:
        return [f"== the last {LOG_LINES} lines of {log.file}\n", *_tail(log.file, LOG_LINES)]
    return [f"== journalctl -u openkms -n {LOG_LINES}\n", *_journal(LOG_LINES)]


def _host_settings(directory: Path) -> HostSettings | None:
    if not (directory / "host.json").is_file():
        return None
    try:
        return HostState(directory).settings
    except OpenKMSError:
        return None


def support_files(
    directory: Path, environ: Mapping[str, str] | None = None
) -> dict[str, list[str]]:
    """``system.txt``, ``config.txt``, ``dns.txt`` and ``host-log.txt`` of a bundle."""
    env = os.environ if environ is None else environ
    settings = _host_settings(directory)
    config, config_lines = _config(env)
    return {
        "system.txt": _system(),
        "config.txt": config_lines,
        "dns.txt": _dns(settings),
        "host-log.txt": _log(config),
    }
