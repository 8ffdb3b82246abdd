"""Architecture guards: the static import graph of src/advland follows the layers that
docs/architecture.md declares (no cycles, no upward imports, the analysis sub-rule);
functions stay short; old module paths still import, with a DeprecationWarning.

Each detector also runs on a small synthetic input that breaks its rule, so a detector
that silently finds nothing fails its own test.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
DOC = ROOT / "docs" / "architecture.md"
ROOT_PACKAGE = "advland"

MAX_LINES = 60
MAX_POSITIONAL = 6

# Functions allowed past MAX_LINES or MAX_POSITIONAL: "module:qualname" -> the reason.
ALLOWED_LONG: dict[str, str] = {}
ALLOWED_POSITIONAL: dict[str, str] = {}


# ---------------------------------------------------------------- the import graph


def find_modules(src: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under `src` (packages by __init__)."""
    modules = {}
    for path in sorted(src.rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _resolve_from(name: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module an `ImportFrom` names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _known(target: str, modules: dict[str, Path]) -> str | None:
    """`target`, or its longest prefix that is a module of ours (None if outside)."""
    parts = target.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Modules of ours that module `name` imports anywhere in its file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_from(name, path, node)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            targets = [base] + [t for t in targets[1:] if t in modules]
        else:
            continue
        for target in targets:
            known = _known(target, modules)
            if known is not None and known != name:
                found.add(known)
    return found


def import_graph(src: Path) -> dict[str, set[str]]:
    modules = find_modules(src)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


# ---------------------------------------------------------------- the layer table


@dataclass(frozen=True)
class Layer:
    number: int
    name: str
    modules: tuple[str, ...]


def _table_after(marker: str, text: str) -> list[list[str]]:
    """The cells of the Markdown table that follows the HTML comment `marker`."""
    lines = text.split(marker, 1)[1].strip().splitlines()
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return [row for row in rows[2:]]  # skip the header and the |---| line


def parse_layers(text: str) -> list[Layer]:
    rows = _table_after("<!-- layers: parsed by tests/test_architecture.py -->", text)
    return [
        Layer(int(number), name, tuple(re.findall(r"`([\w.]+)`", cell)))
        for number, name, cell in rows
    ]


def parse_analysis_rules(text: str) -> dict[str, set[str]]:
    rows = _table_after("<!-- analysis: parsed by tests/test_architecture.py -->", text)
    return {re.findall(r"`([\w.]+)`", a)[0]: set(re.findall(r"`([\w.]+)`", b)) for a, b in rows}


def _owner(module: str, names: list[str]) -> str | None:
    """The longest of `names` that is `module` or a package above it; the root package
    only covers itself."""
    best = None
    for name in names:
        covers = module == name or (name != ROOT_PACKAGE and module.startswith(name + "."))
        if covers and (best is None or len(name) > len(best)):
            best = name
    return best


def layer_of(module: str, layers: list[Layer]) -> int | None:
    numbers = {name: layer.number for layer in layers for name in layer.modules}
    owner = _owner(module, list(numbers))
    return None if owner is None else numbers[owner]


def upward_imports(graph: dict[str, set[str]], layers: list[Layer]) -> list[str]:
    found = []
    for module, targets in sorted(graph.items()):
        here = layer_of(module, layers)
        for target in sorted(targets):
            there = layer_of(target, layers)
            if here is not None and there is not None and there > here:
                found.append(f"{module} (layer {here}) imports {target} (layer {there})")
    return found


def analysis_violations(graph: dict[str, set[str]], rules: dict[str, set[str]]) -> list[str]:
    found = []
    for module, targets in sorted(graph.items()):
        group = _owner(module, list(rules))
        for target in sorted(targets):
            other = _owner(target, list(rules))
            if group and other and other != group and other not in rules[group]:
                found.append(f"{module} imports {target}: {group} may not import {other}")
    return found


# ---------------------------------------------------------------- function size


@dataclass(frozen=True)
class FunctionSize:
    where: str  # module:qualname
    lines: int
    positional: int


def function_sizes(source: str, module: str) -> list[FunctionSize]:
    sizes = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = child.args
                positional = [a.arg for a in args.posonlyargs + args.args]
                if positional and positional[0] in ("self", "cls"):
                    positional = positional[1:]
                lines = child.end_lineno - child.lineno + 1
                qualname = prefix + child.name
                sizes.append(FunctionSize(f"{module}:{qualname}", lines, len(positional)))
                visit(child, qualname + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return sizes


def oversized(sizes: list[FunctionSize]) -> list[str]:
    found = []
    for s in sizes:
        if s.lines > MAX_LINES and s.where not in ALLOWED_LONG:
            found.append(f"{s.where}: {s.lines} lines (at most {MAX_LINES})")
        if s.positional > MAX_POSITIONAL and s.where not in ALLOWED_POSITIONAL:
            found.append(f"{s.where}: {s.positional} positional parameters (at most 6)")
    return found


# ---------------------------------------------------------------- tests on src/advland


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(SRC)


@pytest.fixture(scope="module")
def layers() -> list[Layer]:
    return parse_layers(DOC.read_text(encoding="utf-8"))


def test_layer_table_is_well_formed(layers):
    assert [layer.number for layer in layers] == list(range(len(layers)))
    names = [name for layer in layers for name in layer.modules]
    assert len(names) == len(set(names)), "a module is placed in two layers"
    assert ROOT_PACKAGE in names


def test_every_package_folder_has_an_init():
    # setuptools' package discovery (pyproject: packages.find) skips folders without one,
    # so their modules would be missing from the wheel.
    folders = {path.parent for path in (SRC / ROOT_PACKAGE).rglob("*.py")}
    assert sorted(str(f) for f in folders if not (f / "__init__.py").is_file()) == []


def test_every_module_has_a_layer(graph, layers):
    missing = [module for module in sorted(graph) if layer_of(module, layers) is None]
    assert not missing, f"add these to the layer table in docs/architecture.md: {missing}"


def test_no_import_cycles(graph):
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_upward_imports(graph, layers):
    upward = upward_imports(graph, layers)
    assert not upward, "imports that go up a layer:\n" + "\n".join(upward)


def test_analysis_subpackages_keep_apart(graph):
    rules = parse_analysis_rules(DOC.read_text(encoding="utf-8"))
    assert set(rules) == {f"advland.analysis.{p}" for p in ("hessian", "landscape", "theory")}
    bad = analysis_violations(graph, rules)
    assert not bad, "\n".join(bad)


def test_functions_are_short_with_few_positional_parameters():
    sizes = []
    for name, path in find_modules(SRC).items():
        sizes += function_sizes(path.read_text(encoding="utf-8"), name)
    bad = oversized(sizes)
    assert not bad, "\n".join(bad)


def test_allow_lists_name_existing_functions():
    sizes = []
    for name, path in find_modules(SRC).items():
        sizes += function_sizes(path.read_text(encoding="utf-8"), name)
    known = {s.where for s in sizes}
    assert not (set(ALLOWED_LONG) | set(ALLOWED_POSITIONAL)) - known


def test_every_module_imports_and_plotting_stays_lazy():
    """Each module imports on its own in a fresh interpreter (no cycle bites at import
    time), and importing all of them loads no matplotlib: figures import it when made."""
    names = [n for n in find_modules(SRC) if not n.endswith("__main__")]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", f"matplotlib imported eagerly: {proc.stdout}"


# ---------------------------------------------------------------- the detectors can fail


def test_cycle_detector_reports_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert find_cycles(graph) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_upward_detector_reports_an_upward_edge():
    layers = [Layer(0, "low", ("advland", "advland.low")), Layer(1, "high", ("advland.high",))]
    graph = {"advland.low.x": {"advland.high.y"}, "advland.high.y": {"advland.low", "advland"}}
    assert upward_imports(graph, layers) == [
        "advland.low.x (layer 0) imports advland.high.y (layer 1)"
    ]
    # The root package covers only itself, not every module below it.
    assert layer_of("advland", layers) == 0
    assert layer_of("advland.other", layers) is None


def test_analysis_rule_detector():
    rules = {"a.hessian": set(), "a.landscape": {"a.hessian"}, "a.theory": set()}
    graph = {
        "a.landscape.s": {"a.hessian.h", "a.common"},
        "a.hessian.h": {"a.landscape.s"},
        "a.theory.t": {"a.hessian"},
    }
    assert analysis_violations(graph, rules) == [
        "a.hessian.h imports a.landscape.s: a.hessian may not import a.landscape",
        "a.theory.t imports a.hessian: a.theory may not import a.hessian",
    ]


def test_import_graph_sees_relative_and_function_level_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "low.py").write_text("import os\n")
    (pkg / "sub" / "__init__.py").write_text("from . import leaf\n")
    (pkg / "sub" / "leaf.py").write_text("def f():\n    from ..low import x\n")
    (pkg / "sub" / "other.py").write_text("from pkg.sub import leaf\nimport pkg.low.nothing\n")
    graph = import_graph(tmp_path)
    assert graph["pkg.sub"] == {"pkg.sub.leaf"}
    assert graph["pkg.sub.leaf"] == {"pkg.low"}
    # `from pkg.sub import leaf` runs pkg/sub/__init__ too: an edge to both.
    assert graph["pkg.sub.other"] == {"pkg.sub", "pkg.sub.leaf", "pkg.low"}
    assert graph["pkg.low"] == set()


def test_layer_parser_reads_the_table():
    text = (
        "intro\n<!-- layers: parsed by tests/test_architecture.py -->\n"
        "| layer | name | modules |\n|---|---|---|\n"
        "| 0 | core | `p` (init), `p.a` |\n| 1 | top | `p.b` |\n\nafter\n"
    )
    assert parse_layers(text) == [Layer(0, "core", ("p", "p.a")), Layer(1, "top", ("p.b",))]


def test_size_check_reports_long_functions_and_positional_parameters():
    body = "\n".join(f"    x{i} = {i}" for i in range(60))
    source = (
        f"def long():\n{body}\n"
        "def many(a, b, c, d, e, f, g):\n    pass\n"
        "class K:\n    def method(self, a, b, c, d, e, f, *, g=1):\n        pass\n"
    )
    sizes = function_sizes(source, "m")
    assert {s.where: (s.lines, s.positional) for s in sizes} == {
        "m:long": (61, 0),
        "m:many": (2, 7),
        "m:K.method": (2, 6),
    }
    assert oversized(sizes) == [
        "m:long: 61 lines (at most 60)",
        "m:many: 7 positional parameters (at most 6)",
    ]


# ---------------------------------------------------------------- old names


def _moved() -> dict[str, str]:
    from advland._compat import MOVED

    return MOVED


@pytest.fixture
def fresh_import():
    """Import a module as if for the first time; afterwards undo what the import added to
    sys.modules and to its parent package, so other tests see the same state as before."""
    before: dict[str, tuple[object, bool]] = {}  # name -> (sys.modules entry, parent had it)

    def load(name: str):
        parent, _, child = name.rpartition(".")
        if name not in before:
            had = parent in sys.modules and child in vars(sys.modules[parent])
            before[name] = (sys.modules.get(name), had)
        sys.modules.pop(name, None)
        return importlib.import_module(name)

    yield load
    for name, (entry, had) in before.items():
        parent, _, child = name.rpartition(".")
        if entry is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = entry
        if not had and parent in sys.modules:
            vars(sys.modules[parent]).pop(child, None)


@pytest.mark.parametrize("old", sorted(_moved()))
def test_old_module_path_imports_with_a_warning(old, fresh_import):
    new = _moved()[old]
    with pytest.warns(DeprecationWarning, match=re.escape(f"{old} has moved to {new}")):
        module = fresh_import(old)
    assert module is importlib.import_module(new)
    assert module.__name__ == module.__spec__.name == new


def moved_attributes(src: Path) -> list[tuple[str, str, str]]:
    """(module, name, new module) for every name a module's `__getattr__` resolves through
    `_compat.moved_attribute(__name__, {name: new module, ...}, name)`; the table may be
    written inline or as a module-level constant."""
    found = []
    for module, path in find_modules(src).items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {
            target.id: node.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            is_call = isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            if not is_call or node.func.id != "moved_attribute" or len(node.args) < 2:
                continue
            table = node.args[1]
            if isinstance(table, ast.Name):
                table = constants[table.id]
            found += [(module, name, new) for name, new in ast.literal_eval(table).items()]
    return sorted(found)


@pytest.mark.parametrize(
    ("module", "name", "new"), moved_attributes(SRC), ids=lambda v: v.rsplit(".", 1)[-1]
)
def test_moved_attribute_resolves_with_a_warning(module, name, new):
    with pytest.warns(DeprecationWarning, match=re.escape(f"{module}.{name} has moved")):
        value = getattr(importlib.import_module(module), name)
    assert value is getattr(importlib.import_module(new), name)


def test_moved_attributes_are_found():
    found = {(module, name) for module, name, _ in moved_attributes(SRC)}
    assert ("advland.training", "evaluate") in found


def test_training_evaluate_is_the_function_with_a_warning():
    with pytest.warns(DeprecationWarning, match="advland.evaluation.run.evaluate"):
        from advland.training import evaluate
    from advland.evaluation.run import evaluate as new

    assert evaluate is new


def test_old_submodule_path_does_not_shadow_a_moved_name(fresh_import):
    # advland.training.evaluate is both an old module path and a moved function.
    with pytest.warns(DeprecationWarning):
        module = fresh_import("advland.training.evaluate")
    assert module is importlib.import_module("advland.evaluation.robust")
    with pytest.warns(DeprecationWarning, match="advland.evaluation.run.evaluate"):
        from advland.training import evaluate
    from advland.evaluation.run import evaluate as new

    assert evaluate is new


def test_the_fresh_import_fixture_warns_again(fresh_import):
    old = sorted(_moved())[0]
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fresh_import(old)
        assert any(issubclass(w.category, DeprecationWarning) for w in caught)
