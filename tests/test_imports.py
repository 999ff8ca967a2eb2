"""The import graph of `nn`: read from the source of every module, it has no cycle.

Edges come from every ``import`` and ``from ... import`` in a module, at any depth (function
level too), relative or ``nn.``-absolute. ``from pkg import name`` points to ``pkg.name`` when
that is a module, else to ``pkg``. Importing a submodule also runs its parent packages'
``__init__``, but that is not counted as an edge: otherwise every package whose ``__init__``
imports its submodules would be a cycle with each of them.
"""

import ast
import pkgutil
from pathlib import Path

import pytest

import nn


def nn_modules():
    """``{module name: source path}`` for `nn` and every module and package under it."""
    modules = {"nn": Path(nn.__file__)}
    for info in pkgutil.walk_packages(nn.__path__, prefix="nn."):
        folder = Path(info.module_finder.path)
        leaf = info.name.rsplit(".", 1)[1]
        modules[info.name] = folder / leaf / "__init__.py" if info.ispkg else folder / f"{leaf}.py"
    return modules


def imported(name, path, modules):
    """The `nn` modules that the module ``name`` (source at ``path``) imports."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = ".".join(base[:len(base) - (node.level - 1)])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.add(submodule if submodule in modules else source)
    return {m for m in found if m in modules and m != name}


def import_graph():
    modules = nn_modules()
    return {name: imported(name, path, modules) for name, path in modules.items()}


def find_cycle(graph):
    """One cycle of ``graph`` (``{node: set of nodes}``) as ``[a, b, ..., a]``, or None."""
    state = {}  # node -> "open" while on the current path, "done" once fully explored
    path = []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def reachable(graph, start):
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_nn_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_graph_is_read_from_every_kind_of_import():
    graph = import_graph()
    assert {"nn.models", "nn.datasets", "nn.files", "nn.saving"} <= set(graph)
    assert "nn.saving" in graph["nn.models"]                 # from . import ..., saving
    assert "nn.models" in graph["nn"]                        # a package's own submodules
    assert "nn.files" in graph["nn.datasets._files"]         # from nn.files import ...
    assert "nn.datasets.imdb" in graph["nn.datasets"]        # from nn.datasets import imdb


def test_model_files_know_nothing_of_models():
    graph = import_graph()
    assert not {"nn.models", "nn.layers"} & reachable(graph, "nn.saving")
    assert "nn.datasets" not in reachable(graph, "nn.files")


@pytest.mark.parametrize("graph, cycle", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ({"a": {"b", "c"}, "b": {"c"}, "c": {"d"}, "d": {"b"}}, ["b", "c", "d", "b"]),
    ({"a": {"b", "c"}, "b": {"c"}, "c": set()}, None),
])
def test_find_cycle_finds_one_when_there_is_one(graph, cycle):
    assert find_cycle(graph) == cycle
