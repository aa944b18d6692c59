from __future__ import annotations

import pytest

from openkms.core.catalog import parse_catalog_toml
from openkms.errors import CatalogError
from openkms.publisher.default_catalog import default_catalog_toml


def test_default_catalog_has_desktop_and_server_groups_in_order() -> None:
    catalog = parse_catalog_toml(default_catalog_toml("Acme"))
    assert catalog.groups == ("desktop", "A", "B", "C")
    assert catalog.service == "_openkms._tcp"
    desktop = [p for p in catalog.products if p.group == "desktop"]
    servers = [p for p in catalog.products if p.group != "desktop"]
    assert len(desktop) >= 2 and {p.n_policy for p in desktop} == {25}
    assert {p.group for p in servers} == {"A", "B", "C"} and {p.n_policy for p in servers} == {5}
    assert len({p.setup_key for p in catalog.products}) == len(catalog.products)


@pytest.mark.parametrize(
    ("host", "product", "allowed"),
    [
        ("B", "desktop", True),
        ("B", "A", True),
        ("B", "B", True),
        ("B", "C", False),
        ("C", "C", True),
        ("desktop", "A", False),
    ],
)
def test_a_group_covers_itself_and_every_lower_group(
    host: str, product: str, allowed: bool
) -> None:
    catalog = parse_catalog_toml(default_catalog_toml("Acme"))
    assert catalog.covers(host, product) is allowed


def _break(text: str, old: str, new: str, occurrence: int = 1) -> str:
    parts = text.split(old)
    assert len(parts) > occurrence
    return old.join(parts[:occurrence]) + new + old.join(parts[occurrence:])


def _line_of(text: str, needle: str, occurrence: int = 1) -> int:
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    return text.count("\n", 0, index) + 1


@pytest.mark.parametrize(
    ("old", "new", "occurrence", "words"),
    [
        ('group = "A"', 'group = "Z"', 1, "product group 'Z'"),
        ("n_policy = 5", "n_policy = 0", 2, "n_policy"),
        ("n_policy = 25", 'n_policy = "25"', 1, "n_policy"),
    ],
)
def test_errors_name_the_line_of_the_product(
    old: str, new: str, occurrence: int, words: str
) -> None:
    text = default_catalog_toml("Acme")
    broken = _break(text, old, new, occurrence)
    with pytest.raises(CatalogError) as info:
        parse_catalog_toml(broken, "catalog.toml")
    index = broken.index(new)
    header = broken.rfind("[[product]]", 0, index)
    expected_line = broken.count("\n", 0, header) + 1
    assert f"catalog.toml: line {expected_line}:" in info.value.message
    assert words in info.value.message
    assert info.value.code.hex == "0xE0040006"


def test_a_toml_syntax_error_names_its_line() -> None:
    text = default_catalog_toml("Acme").replace('service = "_openkms._tcp"', "service = ")
    with pytest.raises(CatalogError) as info:
        parse_catalog_toml(text, "catalog.toml")
    assert f"line {_line_of(text, 'service = ')}" in info.value.message


def test_a_mistyped_setup_key_and_a_repeated_one_are_refused() -> None:
    text = default_catalog_toml("Acme")
    key_line = next(line for line in text.splitlines() if line.startswith("setup_key"))
    key = key_line.split('"')[1]
    typo = key[:-1] + ("B" if key[-1] != "B" else "C")
    with pytest.raises(CatalogError, match="setup_key"):
        parse_catalog_toml(text.replace(key, typo))
    second = [line for line in text.splitlines() if line.startswith("setup_key")][1]
    with pytest.raises(CatalogError, match="repeats"):
        parse_catalog_toml(text.replace(second, key_line))


_PUBLISHER = '[publisher]\nname = "Acme"\napplication_id = "6f1c4a52-0d7e-4c2a-9a53-0e6a0d3c9b11"\n'


@pytest.mark.parametrize(
    ("top", "words"),
    [
        ('group = ["A"]\n', "line 1: group must be [[group]] tables"),
        ('product = [1]\n[[group]]\nname = "A"\n', "line 1: product must be [[product]] tables"),
        ('policy = 3\n[[group]]\nname = "A"\n', "line 1: policy must be a [policy] table"),
    ],
)
def test_a_table_of_the_wrong_type_is_a_catalog_error(top: str, words: str) -> None:
    with pytest.raises(CatalogError) as info:
        parse_catalog_toml(top + _PUBLISHER, "catalog.toml")
    assert words in info.value.message
