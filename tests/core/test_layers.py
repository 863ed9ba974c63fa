"""The packages form layers that point one way: core <- sandboxes <- envs <- agent (DESIGN.md).

Every import in the source (top-level and inside functions) is read with ``ast``; a lower layer never
imports a higher one, and no two modules import each other, directly or through a chain. Inside
``agent/`` the loop's stage folders form layers too (:data:`AGENT_LEVELS`): a folder imports only
from its own level or below, so the folders have no cycle between them either.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["core", "sandboxes", "envs", "agent"]
AGENT_LEVELS = [
    {"records"},   # typed records every stage passes on: results, review, training, config
    {"rundir"},    # the run directory's one owner: layout, store, run start
    {"goal"},      # what the task asks, read from its description
    {"train"},     # training backends, job pipelines, executors, halving, compute
    {"design"},    # prompting, designers, LLM client, extraction, validation
    {"analyze"},   # the critique: diagnosis, episodes, screen
    {"review"},    # selection, feedback, reviewers
    {"tune"},      # a reward's constants with Optuna
    {"report"},    # final comparison, summary, scores, plots
    {""},          # the loop itself: loop, next_round, stages, display, context (agent/*.py)
    {"app"},       # the CLI, its commands and the web app
]


def _module_name(path: Path) -> str:
    parts = ["rewardsmith", *path.relative_to(ROOT).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> int:
    return LAYERS.index(module.split(".")[1])


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for layer in LAYERS for p in (ROOT / layer).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {imp for imp in _imports(path) if imp in modules and imp != name}
    return graph


def test_no_package_imports_a_higher_layer() -> None:
    upward = []
    for module, targets in _graph().items():
        upward += [f"{module} -> {t}" for t in targets if _layer(t) > _layer(module)]
    assert upward == []


def _agent_level(module: str) -> int:
    """The level of an ``agent`` module's folder (``""``: a module at agent's root)."""
    parts = module.split(".")[2:]
    folder = parts[0] if len(parts) > 1 or (ROOT / "agent" / parts[0]).is_dir() else ""
    return next(i for i, level in enumerate(AGENT_LEVELS) if folder in level)


def test_agent_stage_folders_import_only_their_level_or_below() -> None:
    upward = []
    for module, targets in _graph().items():
        if module.startswith("rewardsmith.agent."):
            upward += [f"{module} -> {t}" for t in targets
                       if t.startswith("rewardsmith.agent.") and _agent_level(t) > _agent_level(module)]
    assert upward == []


def test_every_agent_folder_has_a_level() -> None:
    folders = {p.name for p in (ROOT / "agent").iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert folders == set().union(*AGENT_LEVELS) - {""}


def test_agent_root_stays_small() -> None:
    """The loop and its phases at the root; everything else in a stage folder (issue 20: at most ~12)."""
    assert len(list((ROOT / "agent").glob("*.py"))) <= 12


def test_no_import_cycles_between_modules() -> None:
    graph = _graph()
    # A package's __init__ importing its own submodule is not a cycle through other code.
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt.startswith(node + ".") and node.count(".") < nxt.count("."):
                continue
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert cycles == []


def test_the_graph_is_read_from_real_imports() -> None:
    graph = _graph()
    assert "rewardsmith.core.state" in graph["rewardsmith.sandboxes.worker"]
    assert "rewardsmith.core.atomic" in graph["rewardsmith.agent.rundir.store"]


def test_own_modules_are_imported_only_under_the_rewardsmith_name() -> None:
    """``import agent`` would work in a checkout (the folders are there) and fail once installed."""
    bare = sorted(f"{path.relative_to(ROOT)}: {imp}"
                  for top in [*LAYERS, "prompts", "tests", "bench"] for path in (ROOT / top).rglob("*.py")
                  if "corpus" not in path.parts and "data" not in path.relative_to(ROOT).parts[:2]
                  for imp in _imports(path) if imp.split(".")[0] in {*LAYERS, "prompts"})
    assert bare == []
