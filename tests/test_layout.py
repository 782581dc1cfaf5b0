"""The package's architecture holds: subpackages in layers, and no module imports from a layer above
its own (core never imports from above it)."""

import ast
from pathlib import Path

import rlaif

LAYERS = ["core", "data", "judges", "evaluation", "labeling", "jobs", "training", "integrations", "distributed", "service", "cli"]
PKG = Path(rlaif.__file__).parent


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return {n for n in names if n == "rlaif" or n.startswith("rlaif.")}


def test_every_module_lives_in_a_layer_and_imports_only_downwards():
    upward = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).parts
        if len(rel) == 1:  # rlaif/__init__.py, rlaif/__main__.py
            continue
        assert rel[0] in LAYERS, f"{path}: not in a known subpackage"
        mine = LAYERS.index(rel[0])
        for name in imports(path):
            parts = name.split(".")
            if len(parts) > 1 and parts[1] in LAYERS and LAYERS.index(parts[1]) > mine:
                upward.append(f"{path.relative_to(PKG)} imports {name}")
    assert not upward, upward


def test_modules_stay_small():
    big = {str(p.relative_to(PKG)): n for p in PKG.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not big, big


def test_job_kinds_are_asked_not_compared_by_name():
    """Job kinds are objects (``rlaif.jobs.kinds``): no module or template compares a kind with its name."""
    import re

    compare = re.compile(r"""kind\W*\s*(==|!=)\s*["'](label|score|generate)["']""")
    files = list(PKG.rglob("*.py")) + list(PKG.rglob("*.html"))
    hits = [f"{p.relative_to(PKG)}:{i}" for p in files for i, line in enumerate(p.read_text().splitlines(), 1)
            if compare.search(line)]
    assert not hits, hits


def test_core_and_data_import_no_torch():
    """The bottom layers are plain Python: importing every module of rlaif.core and rlaif.data loads no torch
    (the preference math is on floats; torch lives in judges/ and above)."""
    import subprocess
    import sys

    mods = sorted(".".join(("rlaif",) + p.relative_to(PKG).with_suffix("").parts).removesuffix(".__init__")
                  for layer in ("core", "data") for p in (PKG / layer).rglob("*.py"))
    code = f"import importlib, sys\nfor m in {mods!r}: importlib.import_module(m)\nprint(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert len(mods) > 10 and out.strip() == "[]", out


def module_imports(path: Path) -> set[str]:
    """The rlaif modules a module imports when it is imported (its top-level statements; an import inside a
    function runs later and cannot form an import cycle), as module names that exist."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("rlaif"):
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)  # ``from rlaif.x import module``
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("rlaif"))
    return names


def test_no_import_cycles():
    """No module imports, directly or through others, a module that imports it back when it is loaded."""
    mods = {".".join(("rlaif",) + p.relative_to(PKG).with_suffix("").parts).removesuffix(".__init__"): p
            for p in PKG.rglob("*.py")}
    graph = {m: sorted(n for n in module_imports(p) if n in mods and n != m) for m, p in mods.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in graph[m]:
            if state.get(n) == 1:
                cycles.append(" -> ".join(path[path.index(n):] + [n]) if n in path else f"{m} -> {n}")
            elif n not in state:
                visit(n, path + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert len(graph) > 100 and not cycles, cycles
