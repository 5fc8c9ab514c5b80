"""docs/fidelity.md stays true: every test it names exists (no skip, no xfail)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "fidelity.md"
#: ``tests/<path>.py::<test name>`` as written in the document.
REFERENCE = re.compile(r"(tests/[\w/]+\.py)::(\w+)")


def _test_names(path: Path) -> set[str]:
    """Names of the module-level and class-level functions of a test file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_every_referenced_test_exists():
    references = REFERENCE.findall(DOC.read_text(encoding="utf-8"))
    assert len(references) >= 50, "the fidelity table names too few tests"
    missing = []
    for file, name in references:
        path = ROOT / file
        if not path.is_file() or name not in _test_names(path):
            missing.append(f"{file}::{name}")
    assert not missing, f"docs/fidelity.md names tests that do not exist: {missing}"


def test_every_table_row_has_a_test_or_says_none():
    rows = [line for line in DOC.read_text(encoding="utf-8").splitlines()
            if line.startswith("| ") and not line.startswith("| paper ")]
    assert rows
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 4, f"a row needs 4 cells (paper, implementation, test, status): {row}"
        assert REFERENCE.search(cells[2]) or cells[2] == "test: —", f"test cell: {row}"
        assert cells[3].startswith(("faithful", "deviation")), f"status cell: {row}"


#: ``ealstm.<module>:<name>[.<attribute>]`` as written in the implementation cells.
IMPLEMENTATION = re.compile(r"`(ealstm(?:\.\w+)+):(\w+(?:\.\w+)*)")


def test_every_referenced_function_exists():
    import importlib

    references = IMPLEMENTATION.findall(DOC.read_text(encoding="utf-8"))
    assert len(references) >= 40, "the fidelity table names too few functions"
    missing = []
    for module, name in references:
        try:
            obj = importlib.import_module(module)
        except ImportError:
            missing.append(f"{module} (no such module)")
            continue
        for part in name.split("."):
            if not hasattr(obj, part):
                missing.append(f"{module}:{name}")
                break
            obj = getattr(obj, part)
    assert not missing, f"docs/fidelity.md names code that does not exist: {missing}"
