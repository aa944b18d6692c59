"""The layers of DESIGN.md §4 as contracts: imports point down, and there is no cycle.

Every ``import`` of an ``openkms`` module in ``src/openkms`` is read from the source (module
level, function level, and under ``if TYPE_CHECKING:``) and checked against the layers:

    cli        openkms.cli, openkms.__main__, openkms.doctor.cli (the doctor's click group)
    programs   host/ client/ publisher/ doctor/ sim/, slmgr_text (their slmgr-style text)
    adapters   protocol/ store/ dns/ admin/, _files (atomic files), event_export
    core       core/, errors, _address (pure parsing), the ``openkms`` package itself

A module imports nothing from a layer above its own, so ``core/`` imports only ``core``,
``errors`` and ``_address``; ``protocol/ store/ dns/ admin/`` never import a program; programs
never import ``cli/``. ``client/`` is the library an application embeds, installed without the
``host`` extra: it imports only ``core``, ``protocol``, ``dns`` and the shared helpers.

The cycle check walks the runtime graph (module and function level; imports under
``TYPE_CHECKING`` never run). The one import the AST cannot see is the lazy table of
``openkms/__init__.py`` (``importlib.import_module`` of ``openkms.client.api`` and
``openkms.core.trust``), which keeps ``import openkms`` light for the store's writer process.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "openkms"

# Longest prefix wins. Ranks: a module may import modules of its own rank or lower.
CORE, ADAPTERS, PROGRAMS, CLI = 0, 1, 2, 3
RANK_NAMES = {CORE: "core", ADAPTERS: "adapters", PROGRAMS: "programs", CLI: "cli"}
LAYERS: dict[str, int] = {
    "openkms": CORE,
    "openkms.core": CORE,
    "openkms.errors": CORE,
    "openkms._address": CORE,
    "openkms.i18n": CORE,
    "openkms.protocol": ADAPTERS,
    "openkms.store": ADAPTERS,
    "openkms.dns": ADAPTERS,
    "openkms.admin": ADAPTERS,
    "openkms._files": ADAPTERS,
    "openkms.localformat": ADAPTERS,
    "openkms.event_export": ADAPTERS,
    "openkms.host": PROGRAMS,
    "openkms.client": PROGRAMS,
    "openkms.publisher": PROGRAMS,
    "openkms.doctor": PROGRAMS,
    "openkms.sim": PROGRAMS,
    "openkms.slmgr_text": PROGRAMS,
    "openkms.cli": CLI,
    "openkms.__main__": CLI,
    "openkms.doctor.cli": CLI,
}

# What the embeddable client may import (and so what `pip install openkms` must provide).
CLIENT_MAY_IMPORT = (
    "openkms",
    "openkms.core",
    "openkms.errors",
    "openkms._address",
    "openkms.i18n",
    "openkms._files",
    "openkms.protocol",
    "openkms.dns",
    "openkms.client",
)

# The lazy table of openkms/__init__.py: names typed under TYPE_CHECKING, loaded on first use.
LAZY_TABLE: frozenset[tuple[str, str]] = frozenset(
    {("openkms", "openkms.client.api"), ("openkms", "openkms.core.trust")}
)


@dataclass(frozen=True, slots=True)
class Import:
    """One import of an openkms module found in the source."""

    importer: str
    imported: str
    line: int
    runtime: bool  # False under ``if TYPE_CHECKING:``

    def __str__(self) -> str:
        where = "" if self.runtime else " (TYPE_CHECKING)"
        return f"{self.importer} -> {self.imported}  (line {self.line}{where})"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.Import | ast.ImportFrom, module: str, path: Path) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        yield submodule if submodule in MODULES else base


def _walk(node: ast.AST, runtime: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, runtime
        elif isinstance(child, ast.If) and _is_type_checking(child):
            for inner in child.body:
                yield from _walk(ast.Module(body=[inner], type_ignores=[]), False)
            for inner in child.orelse:
                yield from _walk(ast.Module(body=[inner], type_ignores=[]), runtime)
        else:
            yield from _walk(child, runtime)


def _imports() -> list[Import]:
    found: list[Import] = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node, runtime in _walk(tree, True):
            for target in _targets(node, module, path):
                if target == "openkms" or target.startswith("openkms."):
                    found.append(Import(module, target, node.lineno, runtime))
    return list(dict.fromkeys(found))


IMPORTS = _imports()


def _rank(module: str) -> int:
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in LAYERS:
            return LAYERS[prefix]
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")


def _within(module: str, packages: tuple[str, ...]) -> bool:
    """``module`` is one of ``packages`` or inside one (the root package counts alone)."""
    return any(module == p or (p != "openkms" and module.startswith(p + ".")) for p in packages)


def _report(title: str, violations: list[Import]) -> str:
    lines = [f"{title} ({len(violations)}):", *(f"  {v}" for v in violations)]
    return "\n".join(lines)


def test_every_module_belongs_to_a_layer() -> None:
    for module in MODULES:
        _rank(module)


def test_imports_point_down_the_layers() -> None:
    upward = [
        i
        for i in IMPORTS
        if _rank(i.imported) > _rank(i.importer) and (i.importer, i.imported) not in LAZY_TABLE
    ]
    violations = upward
    named = [
        f"  {v}   [{RANK_NAMES[_rank(v.importer)]} imports {RANK_NAMES[_rank(v.imported)]}]"
        for v in violations
    ]
    assert not violations, "imports pointing up the layers:\n" + "\n".join(named)


def test_the_client_imports_only_what_a_client_install_has() -> None:
    violations = [
        i
        for i in IMPORTS
        if _within(i.importer, ("openkms.client",)) and not _within(i.imported, CLIENT_MAY_IMPORT)
    ]
    assert not violations, _report("client/ imports outside the client install", violations)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_there_is_no_import_cycle() -> None:
    edges: dict[str, set[str]] = {module: set() for module in MODULES}
    for i in IMPORTS:
        if i.runtime and i.imported != i.importer:
            edges[i.importer].add(i.imported)
    cycles = _cycles(edges)
    shown = []
    for members in cycles:
        inside = [i for i in IMPORTS if i.runtime and {i.importer, i.imported} <= set(members)]
        shown.append("  cycle: " + ", ".join(members))
        shown.extend(f"    {i}" for i in inside)
    assert not cycles, "import cycles:\n" + "\n".join(shown)


def test_the_contract_sees_a_violation() -> None:
    """The checker itself can fail: an upward import and a cycle are found."""
    assert _rank("openkms.core.keys") < _rank("openkms.host.app")
    assert not _within("openkms.host.service", CLIENT_MAY_IMPORT)
    assert _within("openkms.dns.srv", CLIENT_MAY_IMPORT)
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import openkms.x\n")
    assert [runtime for _, runtime in _walk(tree, True)] == [True, False]
