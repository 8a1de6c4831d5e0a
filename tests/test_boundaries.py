"""Package boundaries, read from the source: no import cycles, layers import downward only,
and no module imports another's private names.

Every ``import`` statement counts, including those inside functions (a lazy import is still
a dependency), so a cycle cannot hide behind one.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("recenv", "agents", "experiments")
# A layer may import only from itself and the layers after it in this list.
LAYERS = ("experiments", "agents", "recenv.offline", "recenv.sim")
SHARED = ("recenv.stats", "recenv.metrics")  # measurement helpers any layer may use


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {
        module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
    }


def imports_of(path: Path, name: str, known: set[str]) -> list[tuple[str, list[str]]]:
    """``(module, imported names)`` for each project module that ``path`` imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [alias.name for alias in node.names]
            submodules = [f"{base}.{n}" for n in names if f"{base}.{n}" in known]
            found.append((base, [n for n in names if f"{base}.{n}" not in known]))
            found += [(module, []) for module in submodules]
    return [(module, names) for module, names in found if module in known]


def import_graph() -> dict[str, dict[str, list[str]]]:
    modules = project_modules()
    known = set(modules)
    graph: dict[str, dict[str, list[str]]] = {}
    for name, path in modules.items():
        edges: dict[str, list[str]] = {}
        for module, names in imports_of(path, name, known):
            if module != name:
                edges.setdefault(module, []).extend(names)
        graph[name] = edges
    return graph


def layer_of(module: str) -> int | None:
    for index, layer in enumerate(LAYERS):
        if module == layer or module.startswith(layer + "."):
            return index
    return None


GRAPH = import_graph()


def test_the_graph_is_read_from_the_real_files() -> None:
    """The walker sees known edges (a broken walker would pass every other test)."""
    assert "recenv.sim.core" in GRAPH["recenv.sim.env"]
    assert "recenv.sim.calibrated" in GRAPH["recenv.sim.core"]  # a lazy, in-function import
    assert "recenv.sim.calibrated" in GRAPH["recenv.offline.calibration"]
    assert {"recenv.sim", "recenv.offline", "agents.dqn", "experiments.train"} <= set(GRAPH)


def test_there_is_no_import_cycle() -> None:
    # a package's __init__ re-exports its modules; edges into a package count, edges from
    # a package's __init__ to its own modules do not make a cycle of their own
    graph = {
        module: {
            target
            for target in targets
            if not (target.startswith(module + ".") and module in {"recenv", "recenv.offline.data"})
        }
        for module, targets in GRAPH.items()
    }
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        pytest.fail(f"import cycle: {' -> '.join(error.args[1])}")


def test_a_cycle_would_be_found() -> None:
    with pytest.raises(graphlib.CycleError):
        tuple(graphlib.TopologicalSorter({"a": {"b"}, "b": {"a"}}).static_order())


def test_layers_import_downward_only() -> None:
    """The simulator never imports offline tools, agents or experiments; and so on down."""
    upward = [
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if target not in SHARED
        and layer_of(module) is not None
        and layer_of(target) is not None
        and layer_of(target) < layer_of(module)
    ]
    assert upward == []


def test_agents_never_build_worlds() -> None:
    """Agents read item features through the env's public API (``recenv.sim.items``)."""
    builders = [
        module
        for module, targets in GRAPH.items()
        if module.startswith("agents.") and "build_world" in targets.get("recenv.sim.core", [])
    ]
    assert builders == []


def test_no_private_name_crosses_a_module() -> None:
    crossing = [
        f"{module} imports {target}.{name}"
        for module, targets in GRAPH.items()
        for target, names in targets.items()
        for name in names
        if name.startswith("_")
    ]
    assert crossing == []


def test_presets_ship_inside_the_package() -> None:
    from recenv.sim.calibrated import CALIBRATION_DIR
    from recenv.sim.config import PRESET_DIR

    package = ROOT / "recenv"
    assert PRESET_DIR.is_relative_to(package) and (PRESET_DIR / "default.yaml").is_file()
    assert CALIBRATION_DIR.is_relative_to(package) and any(CALIBRATION_DIR.glob("*.json"))
