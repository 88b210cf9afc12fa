"""The packages of ``cost`` import each other one way only (docs/design.md#layout): ``results``
below ``training`` and ``analysis``, and no cycle anywhere. Read from the source with ``ast``
(every import, also those inside functions), so nothing is imported to check it."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _unit(module: str) -> str:
    """The part of ``cost`` a module belongs to: its package (``training``), or the top-level
    module itself (``checkpoints``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "cost"


def module_imports(src: Path = SRC) -> dict[str, set[str]]:
    """{``cost.x.y``: the ``cost`` modules it imports}, relative imports resolved."""
    out: dict[str, set[str]] = {}
    for path in sorted((src / "cost").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        package = parts[:-1]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                mod = ".".join(base + ([node.module] if node.module else []))
                names.add(mod)
                names.update(f"{mod}.{a.name}" for a in node.names)  # ``from . import plots``
        out[".".join(parts)] = {n for n in names if n == "cost" or n.startswith("cost.")}
    return out


def unit_graph(src: Path = SRC) -> dict[str, set[str]]:
    """{unit: the other units it imports}; a ``from cost.x import name`` counts for ``x`` only."""
    modules = module_imports(src)
    graph: dict[str, set[str]] = {}
    for module, names in modules.items():
        here = _unit(module)
        targets = {_unit(n) for n in names if n != "cost" and (n in modules or n.rsplit(".", 1)[0] in modules)}
        graph.setdefault(here, set()).update(targets - {here, "cost"})
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each set of units that reach each other (strongly connected, more than one), sorted."""

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reached = {unit: reach(unit) for unit in graph}
    groups = {
        tuple(sorted(u for u in graph if u == unit or (u in reached[unit] and unit in reached[u]))) for unit in graph
    }
    return sorted(list(g) for g in groups if len(g) > 1)


def offending(src: Path, package: str, forbidden: tuple[str, ...]) -> list[str]:
    """``module -> import`` for each import of a ``forbidden`` package from ``cost.<package>``."""
    return sorted(
        f"{module} -> {name}"
        for module, names in module_imports(src).items()
        if _unit(module) == package
        for name in names
        if any(name == f"cost.{f}" or name.startswith(f"cost.{f}.") for f in forbidden)
    )


def test_no_import_cycle_between_packages():
    graph = unit_graph()
    assert {"training", "analysis", "results", "data", "models", "bench"} <= set(graph)
    assert cycles(graph) == []


def test_training_does_not_import_analysis():
    assert offending(SRC, "training", ("analysis",)) == []


def test_results_imports_neither_training_nor_analysis():
    assert offending(SRC, "results", ("training", "analysis")) == []


def notebook_imports(notebook: Path) -> list[tuple[str, str]]:
    """(module, name) of each ``cost`` import in a notebook's code cells."""
    import json

    found = []
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        code = "".join(line for line in cell["source"] if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "cost":
                found += [(node.module, a.name) for a in node.names]
            elif isinstance(node, ast.Import):
                found += [(a.name, "") for a in node.names if a.name.split(".")[0] == "cost"]
    return found


def test_the_notebooks_import_from_cost_analysis_only():
    """One place for a notebook's names: ``cost.analysis``, which re-exports what it reads."""
    notebooks = sorted((SRC.parent / "notebooks").glob("*.ipynb"))
    assert notebooks
    for notebook in notebooks:
        imports = notebook_imports(notebook)
        assert imports, notebook
        assert {module for module, _ in imports} == {"cost.analysis"}, (notebook.name, imports)
        for module, name in imports:
            exec(f"from {module} import {name}", {})  # each name is there (a submodule such as plots too)
