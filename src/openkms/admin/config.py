"""The admin server's configuration: where it listens and the bearer token, checked once."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from openkms._address import format_address
from openkms.admin.http_guard import ADMIN_LIMITS, ConnectionLimits
from openkms.core.codes import ResultCode
from openkms.errors import OpenKMSError
from openkms.i18n import _

__all__ = [
    "DEFAULT_ADMIN_ADDRESS",
    "TOKEN_ENV",
    "AdminConfig",
    "is_loopback",
    "listen_error",
    "read_token",
]

DEFAULT_ADMIN_ADDRESS: Final = "127.0.0.1:8080"
TOKEN_ENV: Final = "OPENKMS_ADMIN_TOKEN"  # noqa: S105 - a variable name
MIN_TOKEN_LENGTH: Final = 16


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class AdminConfig:
    """Where the admin HTTP server listens and the token it requires.

    On loopback, reads need no token; on any other address every request needs it. Changes
    (settings, forgetting a CMID) always need it, and are refused when no token is set.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = field(default=None, repr=False)
    window_days: int = 30
    # Host names (``Host:`` and ``Origin``) accepted besides loopback and IP addresses: the
    # names people use to reach the dashboard. Any other name is refused (DNS rebinding).
    allowed_hosts: tuple[str, ...] = ()
    # The connection guard's caps and timeouts (trusted proxies: exempt from the per-address
    # cap, since every browser behind a reverse proxy arrives from its address).
    limits: ConnectionLimits = ADMIN_LIMITS

    def __post_init__(self) -> None:
        if self.token is not None and len(self.token) < MIN_TOKEN_LENGTH:
            raise OpenKMSError(
                _("the admin token is too short ({length} characters)").format(
                    length=len(self.token)
                ),
                code=ResultCode.INVALID_ARGUMENT,
                fix=_(
                    "Use a random token of at least {minimum} characters, e.g. "
                    "'openssl rand -hex 32'."
                ).format(minimum=MIN_TOKEN_LENGTH),
            )
        if self.token is None and not self.loopback:
            raise OpenKMSError(
                _(
                    "the admin server would listen on {host}, which is not loopback, "
                    "without a token"
                ).format(host=self.host),
                code=ResultCode.INVALID_ARGUMENT,
                fix=_(
                    "Set a token with --admin-token-file FILE or {variable}, listen on "
                    "127.0.0.1 (--admin 127.0.0.1:8080), or turn it off with --no-admin."
                ).format(variable=TOKEN_ENV),
            )

    @property
    def loopback(self) -> bool:
        """True when the server listens on loopback only."""
        return is_loopback(self.host)

    def accepts_host(self, name: str) -> bool:
        """Whether a request naming ``name`` (``Host:`` or ``Origin``, no port) is for us.

        Loopback names and addresses always; IP addresses when the server listens beyond
        loopback (a browser never sends another site's name as an IP address); otherwise
        only the configured ``allowed_hosts``.
        """
        name = name.strip().rstrip(".").lower()
        if is_loopback(name) or name in (h.lower() for h in self.allowed_hosts):
            return True
        if self.loopback:
            return False
        try:
            ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            return False
        return True

    @property
    def reads_need_token(self) -> bool:
        """True when every request, reads included, needs the token."""
        return not self.loopback


def read_token(token_file: Path | None, environ: dict[str, str] | None = None) -> str | None:
    """The token from ``token_file`` (first line), else from ``OPENKMS_ADMIN_TOKEN``."""
    if token_file is not None:
        try:
            text = token_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise OpenKMSError(
                _("cannot read the admin token file {path}: {reason}").format(
                    path=token_file, reason=exc
                ),
                code=ResultCode.INVALID_ARGUMENT,
                fix=_("Check the path and that this user may read it."),
            ) from None
        token = text.strip().splitlines()[0].strip() if text.strip() else ""
        if not token:
            raise OpenKMSError(
                _("the admin token file {path} is empty").format(path=token_file),
                code=ResultCode.INVALID_ARGUMENT,
            )
        return token
    env = os.environ if environ is None else environ
    return env.get(TOKEN_ENV) or None


def listen_error(config: AdminConfig, exc: OSError) -> OpenKMSError:
    """The error of an admin address that cannot be bound (in use, not this machine's)."""
    return OpenKMSError(
        _("the admin server cannot listen on {address}: {reason}").format(
            address=format_address(config.host, config.port), reason=exc.strerror or exc
        ),
        code=ResultCode.INVALID_ARGUMENT,
        fix=_("Choose a free address with --admin ADDR:PORT, or turn it off with --no-admin."),
    )
