"""Host settings are validated in one place: each rejected value, its code and its fix."""

from __future__ import annotations

from typing import Any

import dns.exception
import dns.name
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkms.core.codes import ResultCode
from openkms.core.host_settings import HostSettings, SettingError, dns_name_problem

REJECTED: list[tuple[str, Any, str, str]] = [
    # setting, value, words of the message, words of the fix
    ("port", 0, "port must be 1..65535, got 0", "TCP port 1..65535"),
    ("port", 65536, "port must be 1..65535", "TCP port"),
    ("port", "1688", "port must be a whole number", "TCP port"),
    ("port", True, "port must be a whole number", "TCP port"),
    ("activation_interval", 14, "activation_interval must be 15..43200 minutes", "15..43200"),
    ("renewal_interval", 43201, "renewal_interval must be 15..43200 minutes", "15..43200"),
    ("dns_publishing", "yes", "dns_publishing must be true or false", "true or false"),
    ("low_priority", 1, "low_priority must be true or false", "true or false"),
    ("dns_domain", "a..b", "dns_domain 'a..b' is not a valid DNS name", "labels of letters"),
    ("dns_target", "x" * 64 + ".test", "is not a valid DNS name", "labels of letters"),
    ("dns_publish_list", ["a.test,70000"], "is not a number 0..65535", "domain[,priority"),
    ("dns_publish_list", ["a.test,1,2,3"], "is not 'domain[, priority[, weight]]'", "domain["),
    ("dns_publish_list", "a.test", "dns_publish_list must be a list", "list"),
    ("dns_servers", ["ns.test"], "DNS server 'ns.test' is not an IP address", "by IP address"),
    ("dns_servers", ["[::1"], "is not an address", "ADDR:PORT"),
    ("dns_ttl", 0, "dns_ttl must be 1..2147483647 seconds", "default 3600"),
    ("dns_republish_hours", 0, "dns_republish_hours must be at least 0.0001 hours", "hours"),
    ("dns_priority", -1, "dns_priority must be 0..65535", "RFC 2782"),
    ("dns_weight", 65536, "dns_weight must be 0..65535", "RFC 2782"),
    ("dns_addresses", ["host.test"], "'host.test' is not an IPv4 or IPv6 address", "192.0.2.10"),
    ("dns_service", "openkms.tcp", "is not like _name._tcp", "_openkms._tcp"),
    ("dns_timeout", 61, "dns_timeout must be 0.1..60 seconds", "0.1..60"),
    ("dns_tsig_key_file", 5, "dns_tsig_key_file must be text", "text"),
    ("colour", "blue", "there is no host setting 'colour'", "activation_interval"),
]


@pytest.mark.parametrize(("name", "value", "message", "fix"), REJECTED)
def test_each_rejected_value_names_the_setting_with_code_and_fix(
    name: str, value: Any, message: str, fix: str
) -> None:
    with pytest.raises(SettingError) as raised:
        HostSettings().validated(**{name: value})
    error = raised.value
    assert error.code is ResultCode.INVALID_ARGUMENT and error.setting == name
    assert message in error.message
    assert error.fix is not None and fix in error.fix


def test_valid_changes_are_applied_and_normalised() -> None:
    settings = HostSettings().validated(
        port=11688,
        activation_interval=15,
        renewal_interval=43200,
        dns_domain="corp.test.",
        dns_target="",
        dns_service="",
        dns_tsig_key_file="",
        dns_republish_hours=1,
        dns_publish_list=("a.test,1,2",),
        dns_servers=["192.0.2.53:5353", "[2001:db8::53]:53"],
    )
    assert settings.port == 11688 and settings.dns_domain == "corp.test"
    assert settings.dns_target is None and settings.dns_service is None
    assert settings.dns_tsig_key_file is None
    assert settings.dns_republish_hours == 1.0 and isinstance(settings.dns_republish_hours, float)
    assert settings.dns_publish_list == ["a.test,1,2"]
    assert settings.checked() == settings


def test_validated_returns_new_settings_and_leaves_the_old_ones() -> None:
    old = HostSettings()
    new = old.validated(port=1700)
    assert old.port == 1688 and new.port == 1700
    with pytest.raises(AttributeError):
        old.port = 1  # type: ignore[misc]


def _dnspython_problem(name: str) -> str | None:
    try:
        dns.name.from_text(name)
    except dns.exception.DNSException as exc:
        return str(exc)
    return None


_LABEL = st.text(alphabet="ab-_*@ \t.", min_size=0, max_size=70)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=80),
        st.lists(_LABEL, max_size=6).map(".".join),
        st.lists(st.integers(0, 70).map(lambda n: "x" * n), max_size=6).map(".".join),
    )
)
def test_dns_names_are_judged_as_dnspython_judges_them(name: str) -> None:
    """The check without dnspython gives dnspython's verdict and message, for any text."""
    assert dns_name_problem(name) == _dnspython_problem(name)
