"""The host's logging: the journal, standard error or a rotating file, set up once."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Final

from openkms.core.codes import ResultCode
from openkms.errors import OpenKMSError
from openkms.host.config_file import LogConfig
from openkms.i18n import _

__all__ = ["configure_logging", "journal_attached"]

PLAIN_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The journal adds its own timestamp; <N> is the syslog priority it reads (sd-daemon(3)).
JOURNAL_FORMAT: Final = "<%(priority)d>%(levelname)s %(name)s: %(message)s"
_PRIORITIES: Final = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}


class _JournalFormatter(logging.Formatter):
    """Prefixes each line with its syslog priority for systemd-journald."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as ``<priority>LEVEL name: message``."""
        record.priority = _PRIORITIES.get(record.levelname, 6)
        return super().format(record)


def journal_attached(environ: Mapping[str, str], fd: int = 2) -> bool:
    """True when ``fd`` is the stream systemd connected to the journal (``JOURNAL_STREAM``)."""
    device, _, inode = environ.get("JOURNAL_STREAM", "").partition(":")
    if not device.isdigit() or not inode.isdigit():
        return False
    try:
        stat = os.fstat(fd)
    except OSError:
        return False
    return stat.st_dev == int(device) and stat.st_ino == int(inode)


def _file_handler(config: LogConfig) -> logging.Handler:
    # logging.handlers (0.5 MiB resident with pickle, queue and the socket handlers) only for
    # a host that logs to a file.
    import logging.handlers  # noqa: PLC0415

    if config.file is None:
        raise OpenKMSError(
            _("log destination is 'file' but no log file is configured"),
            code=ResultCode.INVALID_ARGUMENT,
            fix=_("Set log.file (--log-file, OPENKMS_LOG_FILE), or log to stderr."),
        )
    try:
        if config.max_bytes == 0:  # rotated by logrotate: reopen when the file is moved
            return logging.handlers.WatchedFileHandler(config.file, encoding="utf-8")
        return logging.handlers.RotatingFileHandler(
            config.file, maxBytes=config.max_bytes, backupCount=config.backups, encoding="utf-8"
        )
    except OSError as exc:
        raise OpenKMSError(
            _("cannot open the log file {path}: {reason}").format(
                path=config.file, reason=exc.strerror
            ),
            code=ResultCode.ACCESS_DENIED,
            fix=_("Create its directory and let the host's user write it, or log to stderr."),
        ) from None


def _stderr_fd() -> int:
    try:
        return sys.stderr.fileno()
    except (OSError, ValueError):  # replaced by a stream without a descriptor (tests)
        return -1


def configure_logging(config: LogConfig, environ: Mapping[str, str] | None = None) -> None:
    """Send the ``openkms`` loggers where ``config`` says, replacing earlier handlers."""
    env = os.environ if environ is None else environ
    if config.destination == "file":
        handler = _file_handler(config)
        handler.setFormatter(logging.Formatter(PLAIN_FORMAT))
    else:
        handler = logging.StreamHandler(sys.stderr)
        journal = journal_attached(env, _stderr_fd())
        formatter = _JournalFormatter(JOURNAL_FORMAT) if journal else None
        handler.setFormatter(formatter or logging.Formatter(PLAIN_FORMAT))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(config.level)
