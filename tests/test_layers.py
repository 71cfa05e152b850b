"""Dependencies point down: every import inside the package goes to a layer at or below the importer's.

The table is ARCHITECTURE.md's; a module not in it fails the test (place it when you add it). ``KNOWN`` lists
the upward imports that the layout still has, each to be removed; the test fails on a new one and on a
listed one that is gone (so the list stays true).
"""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]

LAYERS = [  # (layer, module prefixes); a module's layer is that of its longest matching prefix
    (0, ["derivations.errors", "derivations.registry", "derivations.conventions", "derivations.printing"]),
    (1, ["derivations.derivation", "derivations.references", "derivations.calculus"]),
    (2, ["derivations.sgd"]),
    (3, ["derivations.model"]),
    (4, ["derivations.linreg", "derivations.dln", "derivations.fluct", "derivations.curv", "derivations.perceptron"]),
    (5, ["derivations.latex", "derivations"]),
    (10, ["numerics.errors", "numerics.stats", "numerics.engine.rng", "numerics.engine.limits",
          "numerics.engine.progress", "numerics.engine.grid", "numerics.engine.streams", "numerics.engine.data",
          "numerics.engine.minibatches"]),
    (11, ["numerics.engine"]),
    (12, ["numerics.models",
          "numerics.data",  # data sets (digits and the teacher reuse numerics.models.mlp)
          # the JAX network engine (imported only when used; needs the ``network`` extra)
          "numerics.models.network", "numerics.models.network.network", "numerics.models.network.losses",
          "numerics.models.network.curvature", "numerics.models.network.replicas",
          "numerics.models.network.architectures", "numerics.models.network.measure"]),
    (13, ["numerics.verify", "numerics.testing"]),
    (14, ["numerics.checks"]),
    (15, ["numerics.run", "numerics.__main__"]),
    (16, ["numerics"]),  # the package's lazy public surface (``numerics/__init__``): above everything
]

PACKAGE_ROOTS = {"derivations", "numerics"}  # their ``__init__`` only: a new module must be placed explicitly

KNOWN: set[tuple[str, str]] = set()  # upward imports still to remove (importer -> imported)
KNOWN_CYCLE_EDGES: set[tuple[str, str]] = set()  # imports inside functions that close a cycle, still to remove


def _layer(module: str) -> int:
    best = None
    for layer, prefixes in LAYERS:
        for p in prefixes:
            if (module == p or (module.startswith(p + ".") and p not in PACKAGE_ROOTS)) and (best is None or len(p) > len(best[1])):
                best = (layer, p)
    assert best is not None, f"{module} is not in the layer table of tests/test_layers.py (and ARCHITECTURE.md)"
    return best[0]


def _modules():
    for package in ("derivations", "numerics"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def _imports(module: str, path: pathlib.Path):
    """(imported module, top-level?) for every import of a package module in ``path``."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    top = {id(n) for n in tree.body}
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and getattr(block.test, "id", None) == "TYPE_CHECKING" for n in ast.walk(block)}
    for node in ast.walk(tree):
        if id(node) in typing_only:  # annotations only: no import at run time
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" if (ROOT / (f"{base}.{a.name}".replace(".", "/") + ".py")).exists()
                     or (ROOT / f"{base}.{a.name}".replace(".", "/")).is_dir() else base for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in ("derivations", "numerics"):
                yield name, id(node) in top


def _edges():
    return {(m, i, top) for m, path in _modules() for i, top in _imports(m, path)}


def test_derivations_never_import_numerics():
    bad = sorted((m, i) for m, i, _ in _edges() if m.startswith("derivations") and i.startswith("numerics"))
    assert not bad, bad


def test_every_import_points_down():
    upward = {(m, i) for m, i, _ in _edges() if _layer(i) > _layer(m)}
    assert upward - KNOWN == set(), f"new upward imports: {sorted(upward - KNOWN)}"
    assert KNOWN - upward == set(), f"fixed, remove from KNOWN: {sorted(KNOWN - upward)}"


def test_no_import_cycle():
    graph: dict[str, set[str]] = {}
    for m, i, _ in _edges():
        if (m, i) not in KNOWN_CYCLE_EDGES and i != m and not m.startswith(i + "."):  # (a package's own submodules)
            graph.setdefault(m, set()).add(i)
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
