"""The evaluation package's layout is a contract: sub-packages in layers, imports pointing one
way, no circle, no lazy import of the package's own modules, no file over 300 lines.

The import graph is read from the source with ``ast`` (no import runs): an edge for every
``import``/``from ... import`` of a module of ``mmdet_droploss.evaluation``, to the module
that statement names (a package's ``__init__`` or the submodule imported from it).
"""
import ast
from pathlib import Path

import pytest

PACKAGE = 'mmdet_droploss.evaluation'
ROOT = Path(__file__).resolve().parents[1] / 'mmdet_droploss' / 'evaluation'
# lowest first: a module may import from its own layer and the layers before it, never after
LAYERS = ('columns', 'protocol', 'backends', 'shares', 'runners', 'metric')
MAX_LINES = 300


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob('*.py'))}


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute name ``from ... import`` names (relative imports resolved)."""
    if not node.level:
        return node.module or ''
    package = module.split('.') if path.name == '__init__.py' else module.split('.')[:-1]
    base = package[:len(package) - node.level + 1]
    return '.'.join(base + ([node.module] if node.module else []))


def _imports(module: str, path: Path, everything: bool = False):
    """(imported module, line, at module level: not in a function) of every import of this
    package's modules (``everything``: of any module)."""
    tree = ast.parse(path.read_text(), str(path))
    in_functions = {id(inner) for node in ast.walk(tree)
                    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                    for inner in ast.walk(node)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, path, node)
            # ``from package import submodule`` names the submodule
            names = [f'{base}.{a.name}' if f'{base}.{a.name}' in MODULES else base
                     for a in node.names]
        else:
            continue
        for name in names:
            if everything or name == PACKAGE or name.startswith(PACKAGE + '.'):
                yield name, node.lineno, id(node) not in in_functions


def _layer(module: str) -> int:
    """The layer index of a module; the package's own ``__init__`` is above every layer."""
    rest = module[len(PACKAGE) + 1:].split('.')[0] if module != PACKAGE else ''
    return LAYERS.index(rest) if rest else len(LAYERS)


GRAPH = {m: [(n, line, top) for n, line, top in _imports(m, p)] for m, p in MODULES.items()}


def test_every_module_is_in_a_layer():
    assert set(MODULES) > {PACKAGE} and all(
        _layer(m) < len(LAYERS) for m in MODULES if m != PACKAGE)
    with pytest.raises(ValueError):
        _layer(PACKAGE + '.benchmark_timing')  # a module outside the layers fails here
    assert all(imported in MODULES for edges in GRAPH.values() for imported, _, _ in edges), \
        'an import names a module that does not exist'


def test_imports_point_from_higher_layers_to_lower_ones():
    against = [f'{m}:{line} imports {n}' for m, edges in GRAPH.items() for n, line, _ in edges
               if _layer(n) > _layer(m)]
    assert against == []
    # the graph is not empty, and every layer is used by the one above it
    for low, high in zip(LAYERS, LAYERS[1:]):
        assert any(_layer(n) == LAYERS.index(low) for m, edges in GRAPH.items()
                   if _layer(m) == LAYERS.index(high) for n, _, _ in edges), (low, high)


def test_no_import_circle():
    state = {}  # module -> 1 while on the current path, 2 when done

    def visit(module, path):
        state[module] = 1
        for imported, _, _ in GRAPH.get(module, ()):
            if state.get(imported) == 1:
                raise AssertionError('import circle: ' + ' -> '.join(path + [imported]))
            if imported not in state:
                visit(imported, path + [imported])
        state[module] = 2

    for module in MODULES:
        if module not in state:
            visit(module, [module])


def test_the_package_imports_its_own_modules_at_module_level_only():
    lazy = [f'{m}:{line} imports {n}' for m, edges in GRAPH.items() for n, line, top in edges
            if not top]
    assert lazy == []


def test_no_module_is_longer_than_300_lines_and_none_imports_the_benchmark_tool():
    long = {m: n for m, p in MODULES.items()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}
    tool = [f'{m} imports {n}' for m, p in MODULES.items() for n, _, _ in _imports(m, p, True)
            if n.startswith('mmdet_droploss.benchmark_eval')]
    assert tool == []  # the timing tool's code lives apart (mmdet_droploss/benchmark_eval)
