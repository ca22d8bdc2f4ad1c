"""The package's layering, checked: no import cycle between modules, no import that goes up.

Every module under ``cctvctl/`` is parsed with ``ast``; every import counts, at module level and
inside functions (a lazy import is still a dependency: moving it to the top must not break
``import cctvctl``). ``TYPE_CHECKING`` imports count too. A package's implicit import of its
parent ``__init__`` does not.

The layers, top to bottom. A module may import modules of its own component (cycles excluded)
and of any component in a LOWER layer; never a component of its own layer or a higher one.
Adding a module: put it in the lowest layer whose imports it needs, and say why here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cctvctl"

#: top to bottom; each entry a component (a module, or a package with everything under it)
LAYERS: list[tuple[str, ...]] = [
    ("cctvctl.__main__",),                       # python -m cctvctl
    ("cctvctl.cli",),                            # parse, call the library, render
    ("cctvctl.serve",),                          # the HTTP face (cli serve starts it)
    ("cctvctl.api", "cctvctl.demo"),             # the library's public face; the demo drives it
    ("cctvctl.render",),                         # text/HTML/CSV/PNG of a report model
    ("cctvctl.report", "cctvctl.alerts", "cctvctl.ledger", "cctvctl.status",
     "cctvctl.sample", "cctvctl.grants", "cctvctl.tokens"),  # one job each, side by side
    ("cctvctl.ingest",),                         # import files (runs detection on what it wrote)
    ("cctvctl.detect",),                         # outliers and episodes
    ("cctvctl.stats",),                          # aggregation
    ("cctvctl.zone",),                           # the database's time zone
    ("cctvctl.db",),                             # connections, dialects, schema
    ("cctvctl.config",),                         # flags > CCTV_* > defaults
    ("cctvctl.periods", "cctvctl.safefile"),    # calendar arithmetic; safe file writes
    ("cctvctl.validate",),                       # option value checks
    ("cctvctl.errors", "cctvctl.safetext"),      # leaves: import nothing of the package
    ("cctvctl",),                                # the root __init__ (version only)
]


#: inside ``cctvctl.ingest``, top to bottom, the same rule one level down (each module one job,
#: said in its docstring). A new ingest module goes in the lowest layer whose imports it needs.
INGEST_LAYERS: list[tuple[str, ...]] = [
    ("cctvctl.ingest",),                         # entry points: a path, a pipe or rows → one descriptor
    ("cctvctl.ingest.pipeline",),                # one import: ledger, chunks read and written, verdict
    ("cctvctl.ingest.rejected",),                # refused rows → FILE.rejected.csv, target checked
    ("cctvctl.ingest.options",),                 # ImportOptions (checked) and ImportResult
    ("cctvctl.ingest.reader", "cctvctl.ingest.writer"),  # text → validated chunks; chunks → counts
    ("cctvctl.ingest.timeparse", "cctvctl.ingest.fastpath",
     "cctvctl.ingest.records"),                  # timestamps; the C-parser path; the exact path
    ("cctvctl.ingest.timeshapes", "cctvctl.ingest.dst"),  # text → wall times; wall times → instants
    ("cctvctl.ingest.cameras", "cctvctl.ingest.columns", "cctvctl.ingest.counts",
     "cctvctl.ingest.dateorder", "cctvctl.ingest.overlap", "cctvctl.ingest.scan",
     "cctvctl.ingest.spacing", "cctvctl.ingest.timeformat", "cctvctl.ingest.twins",
     "cctvctl.ingest.undecodable",
     "cctvctl.ingest.zonenames"),                # leaves: one rule each, no other ingest module
]

def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name → file, for every .py under the package."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _resolve(name: str, modules) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(name: str, source: str, modules) -> set[str]:
    """The package modules ``source`` (module ``name``) imports, anywhere in its body."""
    is_package = name.count(".") == 0 or modules.get(name, Path("x.py")).name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(filter(None, (_resolve(a.name, modules) for a in node.names)))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                full = f"{target}.{alias.name}"
                found.add(full if full in modules else _resolve(target, modules))
    found.discard(None)
    found.discard(name)
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    modules = module_files(package)
    return {name: imports_of(name, path.read_text(encoding="utf-8"), modules)
            for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def component_of(module: str, layers=LAYERS) -> tuple[int, str]:
    """(layer index, component) of a module: the longest component prefix that holds it."""
    best: tuple[int, str] | None = None
    for level, components in enumerate(layers):
        for comp in components:
            if module == comp or module.startswith(comp + "."):
                if best is None or len(comp) > len(best[1]):
                    best = (level, comp)
    if best is None:
        raise AssertionError(f"{module} is in no layer of tests/test_layering.py: add it")
    return best


def layer_violations(graph: dict[str, set[str]], layers=LAYERS) -> list[str]:
    """Every import of a component in the same or a higher layer, as 'a -> b (why)'."""
    bad = []
    for module in sorted(graph):
        level, comp = component_of(module, layers)
        for target in sorted(graph[module]):
            t_level, t_comp = component_of(target, layers)
            if t_comp == comp:
                continue
            if t_level < level:
                bad.append(f"{module} -> {target} (imports up: layer {level} {comp} over {t_comp})")
            elif t_level == level:
                bad.append(f"{module} -> {target} (sideways: {comp} and {t_comp} share layer {level})")
    return bad


GRAPH = import_graph()


def test_the_graph_sees_function_level_imports():
    """The lazy import in cctvctl.report.build of detect.store must be seen, or the check is blind."""
    assert "cctvctl.detect.store" in GRAPH["cctvctl.report.build"]
    assert len(GRAPH) > 80


def test_no_import_cycles():
    found = cycles(GRAPH)
    assert not found, "import cycles (move the shared piece down): " + "; ".join(
        " <-> ".join(c) for c in found)


def test_every_module_has_a_layer():
    for module in GRAPH:
        component_of(module)


def test_no_import_goes_up_the_layers():
    bad = layer_violations(GRAPH)
    assert not bad, "layering broken:\n" + "\n".join(bad)


def test_the_ingest_package_is_layered_inside():
    """Every ingest module is in INGEST_LAYERS, and none imports one of its own layer or above."""
    inside = {m: {t for t in deps if t == "cctvctl.ingest" or t.startswith("cctvctl.ingest.")}
              for m, deps in GRAPH.items() if m == "cctvctl.ingest" or m.startswith("cctvctl.ingest.")}
    listed = {m for layer in INGEST_LAYERS for m in layer}
    assert set(inside) == listed, f"add to (or remove from) INGEST_LAYERS: {sorted(set(inside) ^ listed)}"
    bad = layer_violations(inside, INGEST_LAYERS)
    assert not bad, "ingest layering broken:\n" + "\n".join(bad)


def test_a_deliberate_upward_import_is_caught(tmp_path):
    """Self-check: a fake package with one upward edge (and one cycle) fails both checks."""
    pkg = tmp_path / "cctvctl"
    (pkg / "db").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "errors.py").write_text("")
    (pkg / "db" / "__init__.py").write_text("from cctvctl.db.database import Database\n")
    (pkg / "db" / "database.py").write_text(
        "from cctvctl.errors import X\n\ndef f():\n    from cctvctl.report import build_report\n")
    (pkg / "report.py").write_text("from cctvctl.db import Database\n")
    graph = import_graph(pkg)
    assert graph["cctvctl.db.database"] == {"cctvctl.errors", "cctvctl.report"}
    bad = layer_violations(graph)
    db_level, report_level = component_of("cctvctl.db")[0], component_of("cctvctl.report")[0]
    assert bad == [f"cctvctl.db.database -> cctvctl.report (imports up: layer {db_level} cctvctl.db "
                   f"over cctvctl.report)"] and report_level < db_level
    assert cycles(graph) == [["cctvctl.db", "cctvctl.db.database", "cctvctl.report"]]
    # and the clean version passes
    (pkg / "db" / "database.py").write_text("from cctvctl.errors import X\n")
    clean = import_graph(pkg)
    assert layer_violations(clean) == [] and cycles(clean) == []


@pytest.mark.parametrize("source, expected", [
    ("from . import model", {"cctvctl.report.model"}),
    ("from .model import Report", {"cctvctl.report.model"}),
    ("from ..periods import Period", {"cctvctl.periods"}),
    ("import cctvctl.detect.store as s", {"cctvctl.detect.store"}),
    ("if TYPE_CHECKING:\n    from cctvctl.db import Database", {"cctvctl.db"}),
])
def test_relative_and_guarded_imports_resolve(source, expected):
    assert imports_of("cctvctl.report.build", source, module_files()) == expected
