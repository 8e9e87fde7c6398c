"""The plan of the package: no import cycle, the house rules of docs/DESIGN.md's layout, modules of a readable size.

Imports are read from the source (``ast``), inside functions too (a lazy import is still a dependency), so a
cycle or a forbidden import fails here even where Python would tolerate it at run time.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import cf_vlm_hf

PACKAGE = Path(cf_vlm_hf.__file__).parent
MAX_LINES = 350
LONG_MODULE_MARK = "Why this module is long:"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(name: str) -> set[str]:
    """The package modules ``name`` imports (anywhere in its source, TYPE_CHECKING blocks excepted)."""
    path = MODULES[name]
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and _is_type_checking(node)
               for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # `from X import y` imports X.y when y is a module, else X.
            targets = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in MODULES else prefix for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:  # `import cf_vlm_hf.models.base.thing` -> the module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def test_the_import_graph_is_read():
    assert "cf_vlm_hf.models.base" in GRAPH["cf_vlm_hf.objective"]
    assert "cf_vlm_hf.losses" in GRAPH["cf_vlm_hf.objective"]
    assert "cf_vlm_hf.models.dual_encoder.collator" in GRAPH["cf_vlm_hf.models.dual_encoder.scorer"]
    assert "cf_vlm_hf.commands" in GRAPH["cf_vlm_hf.cli"]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a path [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                cycle = visit(dep)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_inside_the_package():
    assert find_cycle(GRAPH) is None, " -> ".join(find_cycle(GRAPH))


def _reaches(start: str, forbidden: str) -> list[str]:
    return sorted(dep for dep in GRAPH[start] if dep == forbidden or dep.startswith(forbidden + "."))


def test_the_library_never_imports_the_applications():
    for name in MODULES:
        if name.startswith("cf_vlm_hf.commands") or name == "cf_vlm_hf.cli":
            continue
        assert not _reaches(name, "cf_vlm_hf.commands"), f"{name} imports {_reaches(name, 'cf_vlm_hf.commands')}"
        assert not _reaches(name, "cf_vlm_hf.cli"), name


def test_model_families_never_import_the_trainer_or_the_objective():
    for name in MODULES:
        if name.startswith("cf_vlm_hf.models"):
            for forbidden in ("cf_vlm_hf.trainer", "cf_vlm_hf.objective", "cf_vlm_hf.config"):
                assert not _reaches(name, forbidden), f"{name} imports {forbidden}"


def test_families_import_each_other_only_through_base():
    for name in MODULES:
        for family, other in (("dual_encoder", "generative"), ("generative", "dual_encoder")):
            if name.startswith(f"cf_vlm_hf.models.{family}"):
                assert not _reaches(name, f"cf_vlm_hf.models.{other}"), name


def test_losses_import_only_torch():
    tree = ast.parse(MODULES["cf_vlm_hf.losses"].read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or "").split(".")[0] if not node.level else ".")
    assert roots <= {"torch", "__future__"}, roots


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_imports(name):
    importlib.import_module(name)


def test_modules_are_of_a_readable_size_or_say_why_not():
    long = []
    for name, path in MODULES.items():
        source = path.read_text(encoding="utf-8")
        if source.count("\n") > MAX_LINES and LONG_MODULE_MARK not in (ast.get_docstring(ast.parse(source)) or ""):
            long.append(f"{name}: {source.count(chr(10))} lines")
    assert not long, f"modules over {MAX_LINES} lines whose docstring does not say '{LONG_MODULE_MARK} ...': {long}"


def test_every_module_has_a_docstring():
    missing = [name for name, path in MODULES.items()
               if not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))]
    assert not missing, missing


def test_public_contract():
    from cf_vlm_hf import (  # noqa: F401
        CounterfactualCollator,
        CounterfactualConfig,
        CounterfactualTrainer,
        load_counterfactual_dataset,
    )
    from cf_vlm_hf.losses import (  # noqa: F401
        alignment_loss,
        causal_discrimination_loss,
        scenario_discrimination_loss,
    )

    assert CounterfactualCollator.__module__ == "cf_vlm_hf.models.dual_encoder.collator"
    assert CounterfactualTrainer.__mro__[1].__name__ == "Trainer"
