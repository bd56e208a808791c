"""rdlab's layer order, checked on its own source.

Parts of ``rdlab`` (a top-level module or package) are stacked bottom up; a part may
import from its own row or any row below, never from a row above, and no two parts may
import each other, directly or through others. A new part has to be placed in
``LAYERS`` before its tests pass: the order is part of the design, not a by-product.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "rdlab"

LAYERS: list[list[str]] = [  # bottom first
    ["errors", "_arrays", "_varint", "_files", "_memory", "_threads", "parallel"],
    ["detmath"],
    ["rng", "coding", "container", "theory", "metrics"],
    ["lattice", "rec", "data", "dsp"],
    ["nn"],
    ["inr", "overfit", "privacy"],
    ["codecs"],
    ["train"],
    ["eval", "batch"],
    ["cli", "__init__", "__main__"],
]
LEVEL = {part: level for level, row in enumerate(LAYERS) for part in row}


def part_of(rel: Path) -> str:
    """The part a file belongs to: ``coding/stream.py`` -> ``coding``."""
    head = rel.parts[0]
    return head[:-3] if head.endswith(".py") else head


def imported_parts(path: Path, root: Path) -> Iterator[str]:
    """The rdlab parts a source file imports (absolute or relative imports)."""
    rel = path.relative_to(root)
    package = ["rdlab", *rel.parts[:-1]]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                module = package[: len(package) - node.level + 1]
                module += node.module.split(".") if node.module else []
            elif node.module and node.module.split(".")[0] == "rdlab":
                module = node.module.split(".")
            else:
                continue
            if len(module) >= 2:
                yield module[1]
            else:  # from rdlab import coding / from .. import coding
                yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                names = alias.name.split(".")
                if names[0] == "rdlab" and len(names) >= 2:
                    yield names[1]


def parts_under(root: Path) -> set[str]:
    """The parts of the package at ``root``."""
    return {part_of(p.relative_to(root)) for p in root.rglob("*.py")}


def import_graph(root: Path) -> tuple[dict[str, set[str]], list[str]]:
    """Edges between parts, and the files' upward imports as ``'file -> part'``."""
    parts = parts_under(root)
    edges: dict[str, set[str]] = defaultdict(set)
    upward = []
    for path in sorted(root.rglob("*.py")):
        source = part_of(path.relative_to(root))
        for target in imported_parts(path, root):
            if target == source or target not in parts:
                continue  # a name imported from the package root that is not a part
            edges[source].add(target)
            if LEVEL.get(target, len(LAYERS)) > LEVEL.get(source, len(LAYERS)):
                upward.append(f"{path.relative_to(root)} -> {target}")
    return edges, upward


def cycles(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Pairs of parts that reach each other."""

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        stack = [start]
        while stack:
            for nxt in edges.get(stack.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen

    reached = {part: reach(part) for part in list(edges)}
    pairs = {(a, b) for a in reached for b in reached[a] if a < b and a in reached.get(b, ())}
    return sorted(pairs)


def test_every_part_is_placed() -> None:
    assert parts_under(SRC) - set(LEVEL) == set(), "place the new part in LAYERS"


def test_no_import_points_up_and_no_cycles() -> None:
    edges, upward = import_graph(SRC)
    assert upward == []
    assert cycles(edges) == []
    assert "coding" in edges["codecs"]  # the walk did see imports


def test_an_upward_import_and_a_cycle_are_caught(tmp_path: Path) -> None:
    """Negative control on a made-up package: each violation is reported."""
    root = tmp_path / "rdlab"
    (root / "coding").mkdir(parents=True)
    (root / "coding" / "__init__.py").write_text("from rdlab.codecs import x\n")
    (root / "codecs").mkdir()
    (root / "codecs" / "__init__.py").write_text("from ..coding import y\n")
    (root / "detmath.py").write_text("import rdlab.errors\n")
    (root / "errors.py").write_text("from . import detmath\n")
    edges, upward = import_graph(root)
    assert upward == ["coding/__init__.py -> codecs", "errors.py -> detmath"]
    assert cycles(edges) == [("codecs", "coding"), ("detmath", "errors")]
