"""The package's structure: no import cycle inside gridlab (function-level imports included), and imports that
point down the data path only (docs/architecture.md lists the layers)."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gridlab"

# lowest first; a module may import modules of its own layer or of layers before it, never after it
LAYERS = [
    ("gridlab.version", "gridlab.errors", "gridlab.files", "gridlab.display", "gridlab.hardware", "gridlab.backend",
     "gridlab.scopes", "gridlab.ray_cluster", "gridlab.quiet", "gridlab.pools"),
    ("gridlab.config",),
    ("gridlab.sources",),
    ("gridlab.datasets",),
    ("gridlab.models",),
    ("gridlab.runs", "gridlab.runtimes", "gridlab.tracking"),
    ("gridlab.prediction",),
    ("gridlab.evaluation",),
    ("gridlab.training",),
    ("gridlab.export", "gridlab.sweep"),
    ("gridlab.serving",),
    ("gridlab.cli", "gridlab.__main__", "gridlab"),
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(name: str, path: Path, known) -> set[str]:
    """Every gridlab module ``path`` imports, anywhere in the file: ``from .x import y`` counts as importing
    ``x.y`` when that is a module, else ``x``."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in known else source for a in node.names]
        else:
            continue
        out |= {t for t in targets if t in known and t != name}
    return out


def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _layer(module: str) -> int:
    best = None
    for i, names in enumerate(LAYERS):
        for prefix in names:
            if module == prefix or (prefix != "gridlab" and module.startswith(prefix + ".")):
                best = i
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/architecture.md")
    return best


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_inside_gridlab():
    assert find_cycle(graph()) is None


def test_imports_point_down_the_layers():
    upward = sorted(f"{m} imports {t}" for m, targets in graph().items() for t in targets
                    if m != "gridlab" and _layer(t) > _layer(m))
    assert upward == []


def test_function_level_imports_are_seen():
    edges = graph()
    assert "gridlab.runs" in edges["gridlab.prediction"]
    assert "gridlab.evaluation.report" in edges["gridlab.training.finish"]     # imported inside finish()


@pytest.mark.parametrize("module", ["gridlab.runs", "gridlab.config", "gridlab.sources", "gridlab.hardware"])
def test_lower_layers_stay_light(module):
    """A low layer never reaches up into training, serving or the CLI."""
    reach, todo, edges = set(), [module], graph()
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in reach:
                reach.add(nxt)
                todo.append(nxt)
    assert not {m for m in reach if m.startswith(("gridlab.training", "gridlab.serving", "gridlab.cli"))}
