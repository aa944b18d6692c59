"""A host's settings and the one place that validates them.

``sprt``, ``sai``, ``sri``, ``sdns``/``cdns``, ``spri``/``cpri`` and ``host dns-config`` on
the command line and ``PATCH /api/settings`` in the admin API all change settings through
:meth:`HostSettings.validated`, so a bad value gets the same code, message and fix whichever
way it comes in. Pure: no IO (the host's store directory is read and written in
``host/state.py``).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

import msgspec

from openkms._address import parse_address
from openkms.core import settings
from openkms.core.codes import ResultCode
from openkms.errors import OpenKMSError
from openkms.i18n import _

__all__ = [
    "HostSettings",
    "SettingError",
    "check_dns_name",
    "check_setting",
    "dns_name_problem",
]

# The wire format's limits (RFC 1035, 2.3.4): a label's octets, a name's with its lengths.
MAX_LABEL: Final = 63
MAX_NAME: Final = 255

_PORTS: Final = (1, 65535)
_SRV_FIELD: Final = (0, 65535)
_TTL: Final = (1, 2_147_483_647)
_TIMEOUT: Final = (0.1, 60.0)
_REPUBLISH_MIN_HOURS: Final = 0.0001
_SERVICE: Final = re.compile(r"_[A-Za-z0-9-]+\._(tcp|udp)")


class SettingError(OpenKMSError):
    """A setting that does not exist or a value it cannot take (0x80070057); names the setting."""

    def __init__(self, setting: str, message: str, *, fix: str | None = None) -> None:
        super().__init__(message, code=ResultCode.INVALID_ARGUMENT, fix=fix)
        self.setting = setting


class HostSettings(msgspec.Struct, frozen=True):
    """What ``sprt``, ``sai``, ``sri``, ``sdns``/``cdns`` and ``spri``/``cpri`` change."""

    port: int = settings.DEFAULT_PORT
    activation_interval: int = settings.ACTIVATION_INTERVAL_MIN
    renewal_interval: int = settings.RENEWAL_INTERVAL_MIN
    dns_publishing: bool = True
    low_priority: bool = False
    # DNS publishing (``host dns-config``); see docs/dns.md.
    dns_domain: str | None = None  # own domain; None: from the target's FQDN
    dns_publish_list: list[str] = msgspec.field(default_factory=list)  # "domain[,prio[,weight]]"
    dns_servers: list[str] = msgspec.field(default_factory=list)  # ADDR[:PORT]; []: resolv.conf
    dns_tsig_key_file: str | None = None
    dns_ttl: int = settings.DNS_TTL_SECONDS
    dns_republish_hours: float = settings.DNS_REPUBLISH_HOURS
    dns_target: str | None = None  # SRV target; None: this machine's FQDN
    dns_priority: int = 0
    dns_weight: int = 0
    dns_publish_addresses: bool = False  # also publish A/AAAA for the target
    dns_addresses: list[str] = msgspec.field(default_factory=list)  # []: the listen addresses
    dns_service: str | None = None  # None: the catalog's service
    dns_timeout: float = settings.DNS_TIMEOUT_SECONDS

    def validated(self, **changes: object) -> HostSettings:
        """These settings with ``changes`` applied, each value checked (SettingError if not)."""
        checked = {name: check_setting(name, value) for name, value in changes.items()}
        return msgspec.structs.replace(self, **checked)

    def checked(self) -> HostSettings:
        """These settings if every value is valid (e.g. read from a hand-edited host.json)."""
        fields = msgspec.structs.asdict(self)
        return self.validated(**fields)


def check_setting(name: str, value: object) -> Any:
    """``value`` as setting ``name`` stores it ('' becomes None); SettingError if invalid."""
    rule = _RULES.get(name)
    if rule is None:
        raise SettingError(
            name,
            _("there is no host setting {name!r}").format(name=name),
            fix=_("Use one of: {names}.").format(names=", ".join(sorted(_RULES))),
        )
    return rule(name, value)


def check_dns_name(text: str, what: str = "domain") -> str:
    """``text`` without its final dot if it is a valid DNS name; else SettingError.

    Valid as dnspython's ``dns.name.from_text`` says. Plain ASCII names without escapes, all
    a host's settings hold in practice, are checked here with its rules and messages; only
    others (escapes, international names) load dnspython (3 MiB resident with its start-up
    probes), so that every host process reading its settings does not
    (docs/architecture.md, "Imports at the top of modules").
    """
    name = text.strip().rstrip(".")
    problem = dns_name_problem(name)
    if problem is not None:
        raise SettingError(
            what,
            _("{what} {text!r} is not a valid DNS name: {exc}").format(
                what=what, text=text, exc=problem
            ),
            fix=_("Use labels of letters, digits and hyphens separated by single dots."),
        ) from None
    return name


def dns_name_problem(name: str) -> str | None:
    """Why ``dns.name.from_text(name)`` refuses ``name`` (its message), or None if it takes it."""
    if not name.isascii() or "\\" in name:
        import dns.exception  # noqa: PLC0415
        import dns.name  # noqa: PLC0415

        try:
            dns.name.from_text(name)
        except dns.exception.DNSException as exc:
            return str(exc)
        return None
    if name in ("", "@", "."):
        return None  # the root, and the origin: as dnspython reads them
    labels = name.removesuffix(".").split(".")  # a final dot: the name is absolute
    if any(not label for label in labels):
        return "A DNS label is empty."
    if any(len(label) > MAX_LABEL for label in labels):
        return f"A DNS label is > {MAX_LABEL} octets long."
    if sum(len(label) + 1 for label in labels) + 1 > MAX_NAME:
        return f"A DNS name is > {MAX_NAME} octets long."
    return None


# -- the rules, one per kind of value -------------------------------------------------------


def _integer(low: int, high: int, unit: str, fix: str) -> Callable[[str, object], int]:
    def check(name: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingError(
                name,
                _("{name} must be a whole number, got {value!r}").format(name=name, value=value),
                fix=fix,
            )
        if not low <= value <= high:
            raise SettingError(
                name,
                _("{name} must be {low}..{high}{unit}, got {value}").format(
                    name=name, low=low, high=high, unit=unit, value=value
                ),
                fix=fix,
            )
        return value

    return check


def _number(low: float, high: float, unit: str, fix: str) -> Callable[[str, object], float]:
    def check(name: str, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SettingError(
                name,
                _("{name} must be a number, got {value!r}").format(name=name, value=value),
                fix=fix,
            )
        if math.isnan(value) or not low <= value <= high:
            shown = f"at least {low:g}" if math.isinf(high) else f"{low:g}..{high:g}"
            raise SettingError(
                name,
                _("{name} must be {shown}{unit}, got {value:g}").format(
                    name=name, shown=shown, unit=unit, value=value
                ),
                fix=fix,
            )
        return float(value)

    return check


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise SettingError(
            name,
            _("{name} must be true or false, got {value!r}").format(name=name, value=value),
            fix=_("Use true or false."),
        )
    return value


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise SettingError(
            name,
            _("{name} must be text, got {value!r}").format(name=name, value=value),
            fix=_("Give it as text."),
        )
    return value.strip()


def _optional(check: Callable[[str, str], str]) -> Callable[[str, object], str | None]:
    """None and '' mean 'not set' (the default); anything else is checked."""

    def optional(name: str, value: object) -> str | None:
        if value is None:
            return None
        text = _text(name, value)
        return check(name, text) if text else None

    return optional


def _each(check: Callable[[str, str], object]) -> Callable[[str, object], list[str]]:
    """A list of text values, each checked; kept as given."""

    def each(name: str, value: object) -> list[str]:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise SettingError(
                name,
                _("{name} must be a list, got {value!r}").format(name=name, value=value),
                fix=_("Give a list."),
            )
        texts = [_text(name, item) for item in value]
        for text in texts:
            check(name, text)
        return texts

    return each


def _dns_name(name: str, text: str) -> str:
    return check_dns_name(text, name)


def _service(name: str, text: str) -> str:
    if not _SERVICE.fullmatch(text):
        raise SettingError(
            name,
            _("{name} {text!r} is not like _name._tcp").format(name=name, text=text),
            fix=_("Use an SRV service name such as {srv_service}.").format(
                srv_service=settings.SRV_SERVICE
            ),
        )
    return text


def _path(name: str, text: str) -> str:
    return text


def _publish_entry(name: str, text: str) -> str:
    parts = [p.strip() for p in text.split(",")]
    fix = _("Give each entry as 'domain[,priority[,weight]]', numbers 0..65535.")
    if not parts[0] or len(parts) > 3:
        raise SettingError(
            name, _("{text!r} is not 'domain[, priority[, weight]]'").format(text=text), fix=fix
        )
    for value in parts[1:]:
        if not value.isdigit() or int(value) > _SRV_FIELD[1]:
            raise SettingError(
                name,
                _("{text!r}: {value!r} is not a number 0..65535").format(text=text, value=value),
                fix=fix,
            )
    check_dns_name(parts[0], name)
    return text


def _ip_address(name: str, text: str) -> str:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise SettingError(
            name,
            _("{text!r} is not an IPv4 or IPv6 address").format(text=text),
            fix=_("Give addresses such as 192.0.2.10 or 2001:db8::10."),
        ) from None
    return text


def _server(name: str, text: str) -> str:
    fix = _("Give DNS servers as ADDR, ADDR:PORT or [IPv6]:PORT, by IP address.")
    try:
        host, _port = parse_address(text, 53)
    except OpenKMSError as exc:
        raise SettingError(name, exc.message, fix=fix) from None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise SettingError(
            name, _("DNS server {text!r} is not an IP address").format(text=text), fix=fix
        ) from None
    return text


_INTERVAL_FIX: Final = (
    f"Use {settings.INTERVAL_RANGE_MIN[0]}..{settings.INTERVAL_RANGE_MIN[1]} minutes "
    f"(defaults: {settings.ACTIVATION_INTERVAL_MIN} to activate, "
    f"{settings.RENEWAL_INTERVAL_MIN} to renew)."
)
_SRV_FIX: Final = "Use 0..65535 (RFC 2782; lower priority first, higher weight more often)."

_RULES: Final[Mapping[str, Callable[[str, object], Any]]] = {
    "port": _integer(
        *_PORTS,
        "",
        _("Use a TCP port 1..65535 (default {default_port}).").format(
            default_port=settings.DEFAULT_PORT
        ),
    ),
    "activation_interval": _integer(*settings.INTERVAL_RANGE_MIN, _(" minutes"), _INTERVAL_FIX),
    "renewal_interval": _integer(*settings.INTERVAL_RANGE_MIN, _(" minutes"), _INTERVAL_FIX),
    "dns_publishing": _flag,
    "low_priority": _flag,
    "dns_domain": _optional(_dns_name),
    "dns_publish_list": _each(_publish_entry),
    "dns_servers": _each(_server),
    "dns_tsig_key_file": _optional(_path),
    "dns_ttl": _integer(
        *_TTL, _(" seconds"), _("Use 1..{ttl} seconds (default 3600).").format(ttl=_TTL[1])
    ),
    "dns_republish_hours": _number(
        _REPUBLISH_MIN_HOURS,
        math.inf,
        _(" hours"),
        _("Use a positive number of hours (default 24)."),
    ),
    "dns_target": _optional(_dns_name),
    "dns_priority": _integer(*_SRV_FIELD, "", _SRV_FIX),
    "dns_weight": _integer(*_SRV_FIELD, "", _SRV_FIX),
    "dns_publish_addresses": _flag,
    "dns_addresses": _each(_ip_address),
    "dns_service": _optional(_service),
    "dns_timeout": _number(*_TIMEOUT, _(" seconds"), _("Use 0.1..60 seconds (default 5).")),
}
