"""The package's layers run one way: core <- config <- the exporters <- render, lint, stack, demo, snapshot <- cli."""

from __future__ import annotations

import ast
from pathlib import Path

from exporters.core.exporter_table import EXPORTER_NAMES

PACKAGE = Path(__file__).resolve().parents[2] / "exporters"
LAYERS = {
    "core": 0,
    "config": 1,
    **{name: 2 for name in EXPORTER_NAMES},  # one package per row of the exporter table
    "render": 3,
    "lint": 3,
    "stack": 3,
    "demo": 3,
    "snapshot": 3,
    "cli": 4,
}
# Tools of the same layer that compose others: the stack renders the tree and runs the demo; lint re-renders to compare.
SIDEWAYS = {("stack", "render"), ("stack", "demo"), ("lint", "render")}


def _part(module: str) -> str | None:
    """'exporters.core.http' -> 'core'; 'exporters' (the version) -> None."""
    parts = module.split(".")
    return parts[1] if parts[0] == "exporters" and len(parts) > 1 else None


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):  # lazy imports inside functions count too
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
    return out


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if not p.name.startswith(("_", "."))}
    assert parts == set(LAYERS), "add the new part to LAYERS (and docs/architecture.md)"


def test_imports_only_go_down_the_layers() -> None:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = _part(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
        if here is None:
            continue
        for line, module in _imports(path):
            there = _part(module)
            if there is None or there == here:
                continue
            if there not in LAYERS:
                problems.append(f"{path.relative_to(PACKAGE.parent)}:{line}: imports unknown part {module}")
            elif LAYERS[there] > LAYERS[here] or (LAYERS[there] == LAYERS[here] and (here, there) not in SIDEWAYS):
                problems.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {here} may not import {module}")
    assert problems == []


def test_the_layering_check_catches_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from exporters.blockchain.abi import read_abi\n")
    assert _imports(bad) == [(2, "exporters.blockchain.abi")]
    assert LAYERS[_part("exporters.blockchain.abi") or ""] > LAYERS["core"]
