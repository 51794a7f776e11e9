"""The house's floors: the import graph of ``src/modalyze`` has no cycle, and no module imports a module on
a floor above its own (a floor may import itself and every floor below). Checked on the static graph
(grimp), function-level imports included."""

from __future__ import annotations

import grimp
import pytest

# Lowest floor first. A module belongs to the floor of the longest prefix that names it.
FLOORS: list[tuple[str, tuple[str, ...]]] = [
    ("foundations", ("errors", "settings", "log", "layers", "registry", "options", "outputs", "run_schema", "run", "files",
                     "report.charts")),
    ("kind registry and spec", ("kind", "spec_schema", "spec")),
    ("data and blocks", ("data", "encoders", "fusion", "losses")),
    ("kinds", ("kinds",)),
    ("models", ("families", "experts", "train", "estimator", "classifier", "aligner")),
    ("analysis", ("analysis", "adapters", "report")),
    ("commands", ("jobs",)),
    ("command line", ("cli_common", "cli_align", "cli", "")),  # "": the package itself
]


def floor_of(module: str) -> int:
    name = module.removeprefix("modalyze").removeprefix(".")
    best = max(((len(prefix), i) for i, (_, prefixes) in enumerate(FLOORS) for prefix in prefixes
                if name == prefix or name.startswith(prefix + ".") or prefix == ""), default=None)
    assert best is not None, f"{module} is on no floor: add it to FLOORS"
    return best[1]


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("modalyze")


def test_no_import_cycle(graph):
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            assert not graph.chain_exists(imported, module), \
                f"cycle: {module} -> {' -> '.join(graph.find_shortest_chain(imported, module))}"


def test_no_module_imports_a_floor_above_its_own(graph):
    upward = sorted(f"{module} ({FLOORS[floor_of(module)][0]}) imports {imported} ({FLOORS[floor_of(imported)][0]})"
                    for module in graph.modules for imported in graph.find_modules_directly_imported_by(module)
                    if floor_of(imported) > floor_of(module))
    assert not upward, "\n".join(upward)


def test_every_module_is_on_a_floor(graph):
    for module in graph.modules:
        floor_of(module)
