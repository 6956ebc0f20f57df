"""The house rules of the package layout (docs/architecture.md), checked on the source."""

import ast
import importlib.util
from pathlib import Path

import fungrad

PACKAGE = Path(fungrad.__file__).parent


def test_no_jacobian_basis_type_in_the_interpreters_or_primitives():
    # The symbolic basis of jacfwd/jacrev is the Jacobian code's optimisation
    # (fungrad/basis.py): the batching interpreter and the primitives know nothing of it.
    for folder in ("interpreters", "primitives"):
        for path in (PACKAGE / folder).glob("*.py"):
            assert "IdentityRows" not in path.read_text(), path


# ---------------------------------------------------------------------------------------
# Imports flow one way: core <- interpreters <- primitives <- everything else.

_BOTTOM = {
    "core",
    "dtypes",
    "errors",
    "flags",
    "matrix_layouts",
    "traceback_util",
    "tree_util",
}


def _level(module: str) -> int:
    """0: core and its leaves; 1: interpreters; 2: primitives; 3: the rest."""
    parts = module.split(".")
    assert parts[0] == "fungrad", module
    if len(parts) == 1:
        return 3
    if parts[1] in _BOTTOM:
        return 0
    return {"interpreters": 1, "primitives": 2}.get(parts[1], 3)


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, int]]:
    """Every fungrad module imported anywhere in ``tree`` (function bodies included),
    with its line; ``from pkg import name`` counts pkg.name when that is a module."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.startswith("fungrad")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            if not base.startswith("fungrad"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((sub if _is_module(sub) else base, node.lineno))
    return found


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _sources():
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        yield module, ast.parse(path.read_text()), path.name == "__init__.py"


def test_imports_flow_one_way_including_imports_inside_functions():
    violations = []
    for module, tree, is_package in _sources():
        level = _level(module)
        for imported, line in _imports(tree, module, is_package):
            if _level(imported) > level:
                violations.append(f"{module} (level {level}) imports {imported} at line {line}")
    assert not violations, "imports that flow upward:\n" + "\n".join(violations)


def test_an_interpreter_never_imports_a_primitive_module():
    for module, tree, is_package in _sources():
        if module.startswith("fungrad.interpreters"):
            imported = [m for m, _ in _imports(tree, module, is_package)]
            assert not [m for m in imported if m.startswith("fungrad.primitives")], module


def _namespace_assignments(tree: ast.AST) -> list[str]:
    """Assignments (and setattr calls) into an imported module's namespace."""
    aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                if _is_module(f"{node.module}.{a.name}"):
                    aliases.add(a.asname or a.name)
    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for t in targets:
            base = t
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(t, ast.Attribute) and isinstance(base, ast.Name) and base.id in aliases:
                found.append(f"line {node.lineno} assigns {ast.unparse(t)}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "setattr"
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id in aliases
        ):
            found.append(f"line {node.lineno} calls setattr on {node.args[0].id}")
    return found


def test_no_module_assigns_into_another_modules_namespace():
    violations = [
        f"{module}: {v}" for module, tree, _ in _sources() for v in _namespace_assignments(tree)
    ]
    assert not violations, "\n".join(violations)


def test_the_namespace_check_sees_an_assignment_into_a_module():
    tree = ast.parse(
        "from fungrad.interpreters import jvp as _jvp\n"
        "import fungrad.core\n"
        "_jvp.add_tangents = print\n"
        "fungrad.core.x = 1\n"
        "setattr(_jvp, 'y', 2)\n"
    )
    assert len(_namespace_assignments(tree)) == 3


def test_the_import_check_sees_an_upward_import_inside_a_function():
    tree = ast.parse("def f():\n    from fungrad.primitives.structural import reshape\n")
    imported = _imports(tree, "fungrad.interpreters.batching", False)
    assert imported == [("fungrad.primitives.structural", 2)]
    assert _level(imported[0][0]) > _level("fungrad.interpreters.batching")
