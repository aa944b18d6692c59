"""The admin server sits with the IO adapters: it never imports the programs above it."""

from __future__ import annotations

import ast
from pathlib import Path

import openkms.admin

ABOVE = ("openkms.host", "openkms.client", "openkms.doctor", "openkms.cli", "openkms.sim")


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_admin_module_imports_host_client_doctor_or_cli() -> None:
    package = Path(openkms.admin.__file__).parent
    offending = {
        f"{path.name}: {name}"
        for path in sorted(package.glob("*.py"))
        for name in _imported_modules(path)
        if name.startswith(ABOVE)
    }
    assert not offending
