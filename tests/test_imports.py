"""The package's import graph: no cycle among llmcal's modules, and the leaf modules import nothing of llmcal."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_main_guard(node: ast.If) -> bool:
    return ast.unparse(node.test) == "__name__ == '__main__'"


def _is_type_checking(node: ast.If) -> bool:
    """Imports for annotations only: they never run, so they cannot take part in a cycle."""
    return ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, package: bool, everywhere: bool) -> set[str]:
    """llmcal modules a module imports: at import time only (module and class bodies), or anywhere it runs."""
    out: set[str] = set()

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and not everywhere:
                continue
            if isinstance(child, ast.If) and (_is_type_checking(child) or (_is_main_guard(child) and not everywhere)):
                continue
            if isinstance(child, ast.Import):
                out.update(a.name for a in child.names if a.name.split(".")[0] == "llmcal")
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = module.split(".") if package else module.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (child.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                if base.split(".")[0] != "llmcal":
                    continue
                for a in child.names:  # `from llmcal import alignment` imports the module llmcal.alignment
                    sub = f"{base}.{a.name}"
                    out.add(
                        sub
                        if (SRC / Path(*sub.split("."))).with_suffix(".py").exists()
                        or (SRC / Path(*sub.split(".")) / "__init__.py").exists()
                        else base
                    )
            visit(child)

    visit(tree)
    out.discard(module)
    return out


def _graph(everywhere: bool = False) -> dict[str, set[str]]:
    graph = {}
    for path in sorted((SRC / "llmcal").rglob("*.py")):
        module = _module_name(path)
        graph[module] = _imports(ast.parse(path.read_text()), module, path.name == "__init__.py", everywhere)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = walk(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = walk(node)
            if found:
                return found
    return None


def test_the_import_graph_is_acyclic():
    """At import time, and counting the imports inside functions and `__main__` blocks too.

    The old cycle was study -> alignment -> registry -> resources -> study (the README table's command).
    """
    graph = _graph()
    assert "llmcal.study" in graph and "llmcal.alignment" in graph["llmcal.study"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))
    everywhere = _graph(everywhere=True)
    assert "llmcal.study" in everywhere["llmcal.config"]  # function-level imports are seen
    assert _cycle(everywhere) is None, " -> ".join(_cycle(everywhere))


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_leaf_modules_import_nothing_of_llmcal_anywhere():
    """resources and layout are leaves: even their functions import no other llmcal module."""
    graph = _graph(everywhere=True)
    for leaf in ("llmcal.resources", "llmcal.layout"):
        assert graph[leaf] == set(), (leaf, graph[leaf])


def test_resources_imports_alone_in_a_fresh_interpreter():
    code = "import sys, llmcal.resources; print(sorted(m for m in sys.modules if m.startswith('llmcal')))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={"PYTHONPATH": str(SRC)},
    ).stdout.strip()
    assert out == "['llmcal', 'llmcal.resources']"
