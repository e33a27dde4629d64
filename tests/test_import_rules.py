"""The layering the design states: cases/ is the data model (imports nothing from solvers/ or
learning/), solvers/ imports nothing from learning/, and learning/ has no import circles.

Imports are read with ``ast`` from the source (module level and inside functions alike: a lazy
import that closes a circle is still a circle for a reader), except those under
``if TYPE_CHECKING:``, which never run."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

PKG = Path(__file__).resolve().parents[1] / "dispatchlab"


def _module(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module(p): p for p in PKG.rglob("*.py")}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for b in node.body for n in ast.walk(b))
    return skip


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """The dispatchlab modules ``path`` (module ``name``) imports, resolved to known modules."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            # "from pkg import mod" imports the submodule; "from mod import name" the module
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        else:
            continue
        out.update(t for t in targets if t in known and t != name)
    return out


def _graph() -> nx.DiGraph:
    mods = _modules()
    graph = nx.DiGraph()
    for name, path in mods.items():
        graph.add_node(name)
        graph.add_edges_from((name, t) for t in imports_of(path, name, set(mods)))
    return graph


def test_the_import_reader_sees_relative_lazy_and_skips_type_checking(tmp_path):
    src = tmp_path / "m.py"
    src.write_text(
        "from typing import TYPE_CHECKING\nfrom .b import x\nif TYPE_CHECKING:\n"
        "    from dispatchlab.c import y\ndef f():\n    import dispatchlab.d\n"
    )
    known = {"dispatchlab.a.b", "dispatchlab.c", "dispatchlab.d", "dispatchlab.a.m"}
    assert imports_of(src, "dispatchlab.a.m", known) == {"dispatchlab.a.b", "dispatchlab.d"}


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("dispatchlab.cases", ("dispatchlab.solvers", "dispatchlab.learning")),
        ("dispatchlab.solvers", ("dispatchlab.learning",)),
    ],
)
def test_lower_layers_import_nothing_from_upper_ones(layer, forbidden):
    graph = _graph()
    bad = sorted(
        f"{src} imports {dst}"
        for src, dst in graph.edges
        if src.startswith(layer + ".") and dst.startswith(forbidden)
    )
    assert bad == []


def test_learning_has_no_import_circles():
    graph = _graph().subgraph(m for m in _graph() if m.startswith("dispatchlab.learning"))
    cycles = list(nx.simple_cycles(graph))
    assert cycles == [], f"import circles in dispatchlab.learning: {cycles[:5]}"
    assert graph.number_of_edges() > 50  # the reader found the package's imports
