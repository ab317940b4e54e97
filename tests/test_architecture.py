"""The package layout of docs/architecture.md: each folder is one stage, imports run one way,
no import circles, and modules and functions stay small."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "simulator"

# What each stage may import from crtsim (besides itself); docs/architecture.md, "Folders".
ALLOWED = {
    "scenario": set(),
    "allocation": {"scenario"},
    "analysis": set(),
    "model": {"scenario", "allocation", "analysis"},
    "montecarlo": {"scenario", "allocation", "analysis", "model", "outputs.files"},
    "planning": {"scenario", "allocation", "analysis", "model", "montecarlo"},
    "outputs": {"scenario", "allocation", "analysis", "model", "montecarlo", "planning"},
}


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, top_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    out = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m == "simulator" or m.startswith("simulator.")}


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_stage_imports_only_the_stages_above_it(path):
    stage = _stage(_name(path))
    if stage not in ALLOWED:
        return   # cli.py, __main__.py, __init__.py sit on top and may use everything
    for module in _imports(path):
        other = _stage(module)
        if other in ("", stage):
            continue
        allowed = ALLOWED[stage]
        assert other in allowed or ".".join(module.split(".")[1:3]) in allowed, \
            f"{_name(path)} imports {module}: {stage}/ may import only {sorted(allowed)}"


def test_no_import_circles_at_module_level():
    graph = {_name(p): {m for m in _imports(p, top_level_only=True)} for p in _modules()}
    state: dict[str, int] = {}

    def visit(node, trail):
        if state.get(node) == 1:
            raise AssertionError("import circle: " + " -> ".join([*trail, node]))
        if state.get(node) == 2 or node not in graph:
            return
        state[node] = 1
        for nxt in graph[node]:
            visit(nxt, [*trail, node])
        state[node] = 2

    for node in graph:
        visit(node, [])


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_and_functions_are_small(path):
    source = path.read_text()
    assert source.count("\n") <= 300, f"{path.name}: {source.count(chr(10))} lines"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            assert length <= 40, f"{path.name}:{node.name} has {length} lines"
