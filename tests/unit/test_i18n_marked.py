"""Every error message and fix a user can read is marked for translation.

An AST walk over src/openkms finds every construction of an ``OpenKMSError`` subclass (the
classes are found in the sources, so a new subclass is covered) and fails, naming file:line,
when its message (first argument or ``message=``) or its ``fix=`` is text the catalogs cannot
hold: a string literal, an f-string, a literal's ``.format()``, ``%`` or ``+``. A ``_()``,
``ngettext()`` or ``pgettext()`` call, ``.format()`` on one of them, a variable or any other
expression passes (the text was translated where it was made). One test per domain of
scripts/i18n.py, so each catalog's owners see their own sites.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "src" / "openkms"
ROOT_ERROR = "OpenKMSError"
# The domains whose files are still being marked; their tests may fail without failing CI.
BEING_MARKED: frozenset[str] = frozenset()
# Arguments of an error's constructor that hold text for people.
TEXT_KEYWORDS = ("message", "fix")


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("i18n_script", ROOT / "scripts" / "i18n.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["i18n_script"] = module
    spec.loader.exec_module(module)
    return module


I18N = _script()


@dataclass(frozen=True, slots=True)
class Unmarked:
    """One argument of an error's construction that is text not marked for translation."""

    path: str
    line: int
    argument: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: the {self.argument} is not marked for translation"


def _base_names(node: ast.ClassDef) -> list[str]:
    names = []
    for base in node.bases:
        if isinstance(base, ast.Name):
            names.append(base.id)
        elif isinstance(base, ast.Attribute):
            names.append(base.attr)
    return names


def _message_position(node: ast.ClassDef) -> int | bool | None:
    """Where the class's own ``__init__`` takes its message (None: it takes none); False if
    the class has no ``__init__`` of its own (it inherits its parent's)."""
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            names = [a.arg for a in item.args.posonlyargs + item.args.args][1:]
            return names.index("message") if "message" in names else None
    return False


@dataclass(frozen=True, slots=True)
class ErrorClasses:
    """The OpenKMSError classes of a source tree and where each takes its message."""

    parents: dict[str, str]  # class -> its first error base (the root maps to itself)
    positions: dict[str, int | None]  # class -> index of its positional message argument

    def __contains__(self, name: object) -> bool:
        return name in self.positions


def error_classes(trees: list[ast.Module]) -> ErrorClasses:
    """OpenKMSError and every class deriving from it in ``trees``."""
    classes = [node for tree in trees for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    parents, own = {ROOT_ERROR: ROOT_ERROR}, {ROOT_ERROR: 0}
    while True:
        more = {
            node.name: node
            for node in classes
            if node.name not in parents and set(_base_names(node)) & parents.keys()
        }
        if not more:
            break
        for name, node in more.items():
            parents[name] = next(b for b in _base_names(node) if b in parents)
            own[name] = _message_position(node)
    positions: dict[str, int | None] = {}

    def position(name: str) -> int | None:
        if name not in positions:
            value = own[name]
            positions[name] = position(parents[name]) if value is False else value
        return positions[name]

    for name in parents:
        position(name)
    return ErrorClasses(parents, positions)


def _is_literal_text(node: ast.expr) -> bool:
    """Text written in the source and not passed through the catalogs."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and any(ch.isalpha() for ch in node.value)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return _is_literal_text(node.left) or _is_literal_text(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        # "...".format(...) / "...".join(...): the template is a literal.
        return node.func.attr in {"format", "join"} and _is_literal_text(node.func.value)
    if isinstance(node, ast.IfExp):
        return _is_literal_text(node.body) or _is_literal_text(node.orelse)
    return False


def _constructed(node: ast.Call, owner: str | None, classes: ErrorClasses) -> str | None:
    """The error class ``node`` constructs: ``Error(...)``, ``errors.Error(...)`` or, in an
    error class ``owner``, ``super().__init__(...)`` (its parent's constructor)."""
    func = node.func
    name = func.id if isinstance(func, ast.Name) else None
    if isinstance(func, ast.Attribute):
        is_super = (
            func.attr == "__init__"
            and isinstance(func.value, ast.Call)
            and isinstance(func.value.func, ast.Name)
            and func.value.func.id == "super"
        )
        name = classes.parents.get(owner or "") if is_super else func.attr
    return name if name in classes else None


def _calls(tree: ast.AST, owner: str | None = None) -> Iterator[tuple[ast.Call, str | None]]:
    """Every call in ``tree`` with the class it is written in (None outside classes)."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.Call):
            yield child, owner
        yield from _calls(child, child.name if isinstance(child, ast.ClassDef) else owner)


def unmarked(tree: ast.Module, path: str, classes: ErrorClasses) -> list[Unmarked]:
    """Every error construction in ``tree`` whose message or fix is unmarked text."""
    found = []
    for node, owner in _calls(tree):
        name = _constructed(node, owner, classes)
        if name is None:
            continue
        position = classes.positions[name]
        arguments = []
        if position is not None and len(node.args) > position:
            arguments.append(("message", node.args[position]))
        arguments += [(k.arg, k.value) for k in node.keywords if k.arg in TEXT_KEYWORDS]
        for argument, value in arguments:
            if argument is not None and _is_literal_text(value):
                found.append(Unmarked(path, value.lineno, argument))
    return sorted(found, key=lambda problem: (problem.line, problem.argument))


def _sources() -> list[tuple[str, str, ast.Module]]:
    """(domain, path relative to the repository, tree) of every module of the package."""
    modules = []
    for path in sorted(SOURCES.rglob("*.py")):
        relative = path.relative_to(SOURCES).as_posix()
        if relative.startswith("locale/"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        modules.append((I18N.domain_of(relative), path.relative_to(ROOT).as_posix(), tree))
    return modules


SOURCES_PARSED = _sources()
CLASSES = error_classes([tree for _domain, _path, tree in SOURCES_PARSED])


def _domain_param(domain: str) -> object:
    if domain in BEING_MARKED:
        return pytest.param(
            domain, marks=pytest.mark.xfail(strict=False, reason="being marked"), id=domain
        )
    return pytest.param(domain, id=domain)


@pytest.mark.parametrize(
    "domain", [_domain_param(d) for d in dict.fromkeys(d for d, _p in I18N.DOMAINS)]
)
def test_error_messages_are_marked(domain: str) -> None:
    """No error raised in the domain's files carries a literal or f-string message or fix."""
    problems = [
        problem
        for owner, path, tree in SOURCES_PARSED
        if owner == domain
        for problem in unmarked(tree, path, CLASSES)
    ]
    assert problems == [], "\n".join(str(p) for p in problems)


def test_error_classes_are_found_in_the_sources() -> None:
    """The walk knows the errors module's classes, subclasses defined elsewhere and where each
    takes its message."""
    for name in ("OpenKMSError", "StateError", "SettingError", "InvalidRequestError"):
        assert name in CLASSES
    assert "BadParameterError" not in CLASSES  # a ValueError, not a user-facing error
    assert CLASSES.positions["StateError"] == 0
    assert CLASSES.positions["SettingError"] == 1  # SettingError(setting, message)
    assert CLASSES.positions["DamagedRecordsError"] is None  # builds its own message


SNIPPET_CLASSES = error_classes(
    [
        ast.parse(
            """
class OpenKMSError(Exception): ...
class StateError(OpenKMSError): ...
class SettingError(StateError):
    def __init__(self, setting, message, *, fix=None):
        super().__init__(message, fix=fix)
class CountError(SettingError):
    def __init__(self, count):
        super().__init__("count", f"{count} is too many")
"""
        )
    ]
)


@pytest.mark.parametrize(
    ("source", "arguments"),
    [
        ('raise StateError(f"cannot read {path}")', ["message"]),
        ('raise StateError("cannot read the file")', ["message"]),
        ('raise StateError(message="cannot read")', ["message"]),
        ('raise StateError(_("cannot read"), fix="Restore it.")', ["fix"]),
        ('raise StateError(_("cannot read"), fix=f"Restore {path}.")', ["fix"]),
        ('raise StateError("cannot read {p}".format(p=path))', ["message"]),
        ('raise StateError("cannot read " + str(path))', ["message"]),
        ('raise StateError("cannot read %s" % path)', ["message"]),
        ('raise StateError(_("a") if x else "b")', ["message"]),
        ('error = errors.StateError(f"bad {x}", fix="Do it.")', ["fix", "message"]),
        ('raise SettingError("port", "not a port")', ["message"]),
        ('raise SettingError("port", _("not a port"), fix="Use 1688.")', ["fix"]),
        ("raise CountError(5)", []),
        ('raise StateError(_("cannot read {path}").format(path=path))', []),
        ('raise StateError(_("cannot read"), fix=_("Restore it."))', []),
        ('raise StateError(ngettext("one", "{n} files", n).format(n=n))', []),
        ('raise StateError(pgettext("store", "closed"))', []),
        ("raise StateError(message, fix=fix)", []),
        ("raise StateError(str(exc))", []),
        ('raise StateError(code=ResultCode.STATE_CORRUPT, fix="")', []),
        ("raise StateError()", []),
        ('raise ValueError(f"not an error of ours {x}")', []),
    ],
)
def test_the_checker(source: str, arguments: list[str]) -> None:
    """A literal or f-string message or fix is reported with its line; marked text is not."""
    found = unmarked(ast.parse("\n" + source), "snippet.py", SNIPPET_CLASSES)
    assert [problem.argument for problem in found] == arguments
    assert all(problem.line == 2 for problem in found)
    assert all(str(problem).startswith("snippet.py:2: the ") for problem in found)


def test_the_checker_follows_super_init() -> None:
    """A subclass that builds its message and hands it to ``super().__init__`` is checked."""
    source = "class CountError(SettingError):\n    def __init__(self, count):\n"
    literal = source + '        super().__init__("count", f"{count} is too many")\n'
    marked = source + '        super().__init__("count", _("{n} is too many").format(n=count))\n'
    assert [str(p) for p in unmarked(ast.parse(literal), "x.py", SNIPPET_CLASSES)] == [
        "x.py:3: the message is not marked for translation"
    ]
    assert unmarked(ast.parse(marked), "x.py", SNIPPET_CLASSES) == []
