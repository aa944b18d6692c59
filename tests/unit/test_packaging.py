"""The extras of pyproject.toml and the modules the command line checks for agree."""

from __future__ import annotations

import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from openkms.cli._entry import HOST_EXTRA_MODULES

PROJECT = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]


def _name(requirement: str) -> str:
    for stop in "<>=!~;[ ":
        requirement = requirement.split(stop, 1)[0]
    return requirement.lower()


def test_the_host_extra_is_what_the_scripts_name_when_missing() -> None:
    distributions = packages_distributions()
    provided = {_name(d) for m in HOST_EXTRA_MODULES for d in distributions.get(m, [])}
    assert provided == {_name(r) for r in PROJECT["optional-dependencies"]["host"]}


def test_all_holds_host_and_dev_holds_all() -> None:
    extras = PROJECT["optional-dependencies"]
    assert extras["all"] == ["openkms[host]"]
    assert "openkms[all]" in extras["dev"]
    assert not {_name(r) for r in PROJECT["dependencies"]} & {_name(r) for r in extras["host"]}
