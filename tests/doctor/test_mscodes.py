"""Rule: `doctor explain` knows Microsoft's published volume-activation codes, each with its
meaning, cause, fix and the procedure to follow first."""

from __future__ import annotations

import pytest

from openkms.core.codes import ResultCode
from openkms.doctor import PROCEDURES, explain
from openkms.doctor._mscodes import MS_CODES

REQUIRED = [
    "0xC004F200",
    "0xC004F00F",
    "0xC004F009",
    "0xC004F034",
    "0xC004F035",
    "0xC004F056",
    "0xC004F069",
    "0xC004F015",
    "0xC004C003",
    "0xC004C008",
    "0xC004E015",
    "0x8007007B",
    "0x80072EE7",
    "0x8007232B",
    "0x8007251D",
    "0x80070005",
    "0xC004F038",
    "0xC004F039",
    "0xC004F041",
    "0xC004F042",
    "0xC004F06C",
    "0xC004F074",
    "0xC004F014",
    "0xC004F050",
    "0x8007267C",
    "0x800706BA",
]


@pytest.mark.parametrize("code", REQUIRED)
def test_published_code_is_known_with_cause_fix_and_procedure(code: str) -> None:
    result = explain(code)
    assert result.known
    assert result.name != "unknown code"
    assert result.cause
    assert result.fix
    assert result.procedure in PROCEDURES
    assert result.checks


def test_every_table_entry_names_a_procedure_of_the_guides() -> None:
    for entry in MS_CODES.values():
        assert entry.procedure in PROCEDURES, entry.hex
        assert entry.meaning.endswith("."), entry.hex
        assert entry.fix, entry.hex


def test_openkms_codes_keep_their_own_name_and_fix() -> None:
    result = explain("0xC004F038")
    assert result.name == "COUNT_TOO_LOW"
    assert result.fix == ResultCode.COUNT_TOO_LOW.info.fix
    assert "25" in result.cause


def test_unknown_code_stays_unknown() -> None:
    result = explain("0xC004FFFE")
    assert not result.known
    assert result.cause == ""
    assert result.fix == ""


def test_clock_skew_points_to_the_clocks_and_dns_codes_to_dns() -> None:
    assert explain("0xC004F06C").procedure == "clock"
    assert explain("0x8007251D").procedure == "dns"
    assert explain("0xC004F041").procedure == "host"
