"""The package's layers (commentd/__init__.py, STYLE.md): imports point one way,

    ops → web → notify, portability → comments → spam → leaves (config, errors, models, db,
    group_commit, keys)

no two modules import each other (directly or round a longer loop), and only web/ and ops/
import Flask or Werkzeug. The graph is read from the source with ast, so every import counts:
at the top of a module, inside a function (a lazy import is still a dependency) and under
`if TYPE_CHECKING:`. Within one package modules may import each other in any order, without
cycles.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import commentd

PACKAGE = "commentd"
ROOT = Path(commentd.__file__).resolve().parent

# Each top-level part of the package and its layer: a module may import its own layer and the
# ones below. The package itself (commentd/__init__.py, whose create_app() imports web late)
# and __main__ sit above everything: they may import any layer, and nothing imports them.
LAYERS = {
    "config": 0,
    "errors": 0,
    "models": 0,
    "db": 0,
    "group_commit": 0,
    "keys": 0,
    "i18n": 0,
    "spam": 1,
    "comments": 2,
    "notify": 3,
    "portability": 3,
    "publishing": 3,
    "web": 4,
    "ops": 5,
}
ENTRY = 6
LAYER_NAMES = {
    0: "the leaves",
    1: "spam",
    2: "comments",
    3: "notify, portability and publishing",
    4: "web",
    5: "ops",
}
FLASK_ALLOWED = {"web", "ops"}
FLASK_MODULES = {"flask", "werkzeug"}  # and every flask_* extension (flask_limiter, …)


@dataclass(frozen=True)
class Import:
    """One import statement's target, as written in `source` at `line`."""

    source: str  # dotted module name, e.g. commentd.spam.rules
    target: str  # dotted module name, resolved to a module (not a name inside one)
    line: int
    type_only: bool  # under `if TYPE_CHECKING:`

    def where(self) -> str:
        return f"{self.source}:{self.line} imports {self.target}"


def module_name(path: Path) -> str:
    parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    """Whether the dotted `name` inside the package is a module or a package (a file)."""
    relative = Path(*name.split(".")[1:]) if "." in name else Path()
    return (ROOT / relative).with_suffix(".py").is_file() or (
        ROOT / relative / "__init__.py"
    ).is_file()


def package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def type_checking_lines(tree: ast.Module) -> set[int]:
    """Line numbers inside `if TYPE_CHECKING:` blocks."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports_of(path: Path) -> Iterator[Import]:
    """Every import in the file at `path`: of the package's own modules, resolved to the module
    (`from commentd.notify import outbox` is commentd.notify.outbox), and of other top-level
    packages by their first name (flask, sqlalchemy, …)."""
    source = module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    typed = type_checking_lines(tree)
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package that holds this module
                anchor = package_of(source, path).split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                inside = base.split(".")[0] == PACKAGE
                targets.append(candidate if inside and is_module(candidate) else base)
        for target in targets:
            if target.split(".")[0] != PACKAGE:
                target = target.split(".")[0]
            yield Import(source, target, node.lineno, node.lineno in typed)


def all_imports() -> list[Import]:
    """Each (module, imported module, line) once, in file order."""
    found = [i for path in sorted(ROOT.rglob("*.py")) for i in imports_of(path)]
    return list(dict.fromkeys(found))


def layer_of(module: str) -> int | None:
    """The layer of a module of the package, ENTRY for the package and __main__, None for a
    part that LAYERS does not place."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        return ENTRY
    return LAYERS.get(parts[1])


def part_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else PACKAGE


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for after in sorted(edges.get(node, ())):
            if after not in index:
                visit(after)
                low[node] = min(low[node], low[after])
            elif after in on_stack:
                low[node] = min(low[node], index[after])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def own_imports() -> list[Import]:
    return [i for i in all_imports() if i.target.split(".")[0] == PACKAGE and i.target != i.source]


def test_the_graph_is_read_from_the_real_package() -> None:
    """A guard for the test itself: it sees the modules and the imports it is about."""
    sources = {i.source for i in all_imports()}
    targets = {(i.source, i.target) for i in own_imports()}

    assert {"commentd.spam", "commentd.web.app", "commentd.ops.cli"} <= sources
    assert any(source.startswith("commentd.web.") for source, _ in targets)
    assert all(is_module(target) for _, target in targets), "an import resolved to no module"


def test_the_cycle_finder_finds_loops_of_any_length() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": {"d"}, "f": {"a"}}

    assert cycles(edges) == [["a", "b", "c"], ["d", "e"]] or cycles(edges) == [
        ["d", "e"],
        ["a", "b", "c"],
    ]


def test_no_module_imports_itself_round_a_cycle() -> None:
    edges: dict[str, set[str]] = {}
    for found in own_imports():
        edges.setdefault(found.source, set()).add(found.target)
    loops = cycles(edges)
    lines = [
        i.where() for loop in loops for i in own_imports() if i.source in loop and i.target in loop
    ]

    assert not loops, "import cycles:\n" + "\n".join(
        [" ↔ ".join(loop) for loop in loops] + ["", *lines]
    )


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {part_of(module_name(path)) for path in ROOT.rglob("*.py")}
    unplaced = sorted(p for p in parts - {PACKAGE, "__main__"} if p not in LAYERS)

    assert not unplaced, f"place these in LAYERS (tests/unit/test_layers.py): {unplaced}"


def test_imports_point_down_the_layers() -> None:
    upward = []
    for found in own_imports():
        source, target = layer_of(found.source), layer_of(found.target)
        if source is None or target is None:
            continue  # test_every_part_of_the_package_has_a_layer names it
        if target > source:
            above = "the package itself" if target == ENTRY else LAYER_NAMES[target]
            upward.append(f"{found.where()} ({LAYER_NAMES[source]} → {above})")

    assert not upward, "imports against ops → web → notify → comments → spam → leaves:\n" + (
        "\n".join(upward)
    )


def test_only_web_and_ops_import_flask_or_werkzeug() -> None:
    def is_flask(target: str) -> bool:
        return target in FLASK_MODULES or target.startswith("flask_")

    outside = [
        found.where() + (" (for types only)" if found.type_only else "")
        for found in all_imports()
        if is_flask(found.target)
        and part_of(found.source) not in FLASK_ALLOWED
        # The package's own create_app() names Flask in its signature, for types only.
        and not (found.source == PACKAGE and found.type_only)
    ]

    assert not outside, "Flask or Werkzeug outside web/ and ops/:\n" + "\n".join(outside)


@pytest.mark.parametrize("package", ["commentd.spam", "commentd.comments", "commentd.notify"])
def test_importing_a_package_below_web_loads_no_flask(package: str) -> None:
    """The package, then every module in it, in a fresh interpreter."""
    script = (
        f"import importlib, pkgutil, sys, {package} as p\n"
        "for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'flask', 'werkzeug'}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    assert loaded.stdout.strip() == "[]", f"import {package} loads {loaded.stdout.strip()}"
