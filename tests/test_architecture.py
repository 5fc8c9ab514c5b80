"""The import graph of ``ealstm`` follows the stage order (docs/architecture.md).

Every module is parsed with :mod:`ast` (no import side effects) and each ``ealstm`` import it
makes, at module level or inside a function, is checked: a stage imports only its own or an
earlier stage; the shared base modules (config, io, errors, runs, ...) import no stage at
module level; analysis and report reach a data set only through the reader registry.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

#: The allowed order: a module of a stage may import modules of its own or an earlier stage.
STAGES = ("data", "models", "simulation", "training", "evaluation", "experiment", "analysis",
          "report", "cli")
#: Top-level modules that are entry points of the command line (stage "cli").
CLI_MODULES = ("cli", "cli_tools", "cli_workflow", "quickstart", "__main__")
#: Documented exceptions (importer, imported) to the order: none. The training loop's per-epoch
#: validation simulates through the simulation stage and scores with the base module metrics.
ALLOWED: set[tuple[str, str]] = set()
#: Readers of one specific data set that analysis/report must not import (use the registry).
DATASET_READERS = ("ealstm.data.readers.camels_us", "ealstm.data.readers.caravan",
                   "ealstm.data.readers.generic")
PACKAGE = Path(__file__).resolve().parents[1] / "ealstm"


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _stage(module: str) -> str | None:
    """Stage of ``ealstm.<x>...``; None for the shared base modules."""
    top = module.split(".")[1] if "." in module else ""
    if top in CLI_MODULES:
        return "cli"
    return top if top in STAGES else None


def _imports(path: Path) -> list[tuple[str, bool]]:
    """``(imported module, at module level)`` of every ``ealstm`` import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found += [(n, id(node) in top_level) for n in names if n.startswith("ealstm.")]
    return found


def _edges() -> list[tuple[str, str, bool]]:
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    edges = []
    for importer, path in modules.items():
        for imported, module_level in _imports(path):
            target = imported if imported in modules else imported.rsplit(".", 1)[0]
            if target in modules and target != importer:
                edges.append((importer, target, module_level))
    return edges


EDGES = _edges()


def test_the_graph_was_parsed():
    assert len(EDGES) > 200
    assert ("ealstm.training.loop", "ealstm.data.prepare", True) in EDGES


def test_no_stage_imports_a_later_stage():
    late = [(a, b) for a, b, _ in EDGES
            if _stage(a) and _stage(b) and STAGES.index(_stage(b)) > STAGES.index(_stage(a))
            and (a, b) not in ALLOWED]
    assert late == [], "imports from a later stage:\n" + "\n".join(f"{a} -> {b}" for a, b in late)


@pytest.mark.parametrize(("importer", "forbidden"), [
    ("ealstm.evaluation", "ealstm.training"), ("ealstm.training", "ealstm.evaluation"),
    ("ealstm.simulation", "ealstm.training"), ("ealstm.simulation", "ealstm.evaluation"),
    ("ealstm.training", "ealstm.experiment"),
    ("ealstm.training", "ealstm.analysis"), ("ealstm.training", "ealstm.report")])
def test_named_stage_edges_are_gone(importer, forbidden):
    assert [(a, b) for a, b, _ in EDGES
            if a.startswith(importer) and b.startswith(forbidden)] == []


def test_allowed_exceptions_exist_and_import_nothing_from_training():
    for importer, imported in ALLOWED:
        assert any(a == importer and b == imported for a, b, _ in EDGES), (importer, imported)
        assert not any(a == imported and b.startswith("ealstm.training") for a, b, _ in EDGES)


def test_analysis_and_report_reach_data_sets_through_the_registry():
    direct = [(a, b) for a, b, _ in EDGES if _stage(a) in ("analysis", "report")
              and b in DATASET_READERS]
    assert direct == []


def test_base_modules_import_no_stage_at_module_level():
    # lazy imports inside functions (registry look-ups in the config validators) are allowed
    bad = [(a, b) for a, b, module_level in EDGES
           if _stage(a) is None and _stage(b) is not None and module_level]
    assert bad == []
