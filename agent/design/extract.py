"""Extraction: from a designer's response (prose and fenced code) to one module of reward code.

Every fenced block is parsed with ``ast``. The block that defines ``compute_reward`` (the last one,
if the response revises itself) is the module; module-level helpers, constants and imports it uses
but that live in other blocks are carried over. Problems are typed and worded for the designer.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass
from typing import Literal

ENTRY = "compute_reward"
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+-]*)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.DOTALL | re.MULTILINE)
_OPEN_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*(?:python|py)?[ \t]*\n(.*)\Z", re.DOTALL | re.MULTILINE)

ExtractKind = Literal["empty", "no_code", "syntax", "no_function"]


class ExtractionError(Exception):
    """The response holds no usable reward module; ``message`` is written for the designer."""

    def __init__(self, kind: ExtractKind, message: str) -> None:
        super().__init__(message)
        self.kind: ExtractKind = kind
        self.message = message


@dataclass(frozen=True)
class Extracted:
    code: str
    blocks: int
    """How many fenced code blocks the response had."""


def extract_reward(response: str) -> Extracted:
    """Return the reward module in ``response`` or raise :class:`ExtractionError`."""
    if not response.strip():
        raise ExtractionError("empty", "the response was empty; reply with one ```python block defining "
                                       "compute_reward(state, action)")
    blocks = _code_blocks(response)
    if not blocks:
        raise ExtractionError("no_code", "the response has no ```python code block; put the complete reward "
                                         "module in one fenced block")
    parsed: list[tuple[str, ast.Module]] = []
    first_error: SyntaxError | None = None
    for text in blocks:
        try:
            parsed.append((text, ast.parse(text)))
        except SyntaxError as exc:
            first_error = first_error or exc
    with_entry = [(t, m) for t, m in parsed if _defines(m, ENTRY)]
    if not with_entry:
        if first_error is not None:
            line = (first_error.text or "").strip()
            raise ExtractionError("syntax", f"syntax error in the code block at line {first_error.lineno}: "
                                            f"{first_error.msg}" + (f" ({line})" if line else ""))
        raise ExtractionError("no_function", f"no code block defines a module-level function "
                                             f"'def {ENTRY}(state, action)'")
    main_text, main_tree = with_entry[-1]
    others = [(t, m) for t, m in parsed if m is not main_tree]
    code = _with_missing_definitions(main_text, main_tree, others)
    return Extracted(code=code.strip() + "\n", blocks=len(blocks))


def _code_blocks(response: str) -> list[str]:
    blocks = []
    for match in _FENCE.finditer(response):
        lang = match.group(2).lower()
        if lang in ("", "python", "py", "python3"):
            blocks.append(match.group(3))
    if blocks:
        return blocks
    # A response cut off mid-block (max tokens) still has an opening fence.
    cut = _OPEN_FENCE.search(response)
    if cut:
        return [cut.group(2)]
    # No fences: accept the whole response only if it parses as code that defines the entry point.
    try:
        tree = ast.parse(response)
    except SyntaxError:
        return []
    return [response] if _defines(tree, ENTRY) else []


def _defines(tree: ast.Module, name: str) -> bool:
    return any(isinstance(s, ast.FunctionDef) and s.name == name for s in tree.body)


def _bound_at_top(tree: ast.Module) -> dict[str, ast.stmt]:
    bound: dict[str, ast.stmt] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef):
            bound[stmt.name] = stmt
        elif isinstance(stmt, ast.Import | ast.ImportFrom):
            for a in stmt.names:
                bound[a.asname or a.name.split(".")[0]] = stmt
        elif isinstance(stmt, ast.Assign | ast.AnnAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        bound[n.id] = stmt
    return bound


def _free_names(node: ast.AST, bound_at_top: set[str]) -> set[str]:
    loaded = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    stored = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    params = {a.arg for n in ast.walk(node) if isinstance(n, ast.arguments)
              for a in (*n.posonlyargs, *n.args, *n.kwonlyargs, n.vararg, n.kwarg) if a is not None}
    return loaded - stored - params - bound_at_top - set(dir(builtins))


def _with_missing_definitions(text: str, tree: ast.Module, others: list[tuple[str, ast.Module]]) -> str:
    """Prepend definitions from other blocks for names ``tree`` uses but does not define (transitively)."""
    defined = set(_bound_at_top(tree))
    providers: dict[str, tuple[int, int, str, ast.stmt]] = {}
    for b, (other_text, other_tree) in enumerate(others):
        for name, stmt in _bound_at_top(other_tree).items():
            providers.setdefault(name, (b, other_tree.body.index(stmt), other_text, stmt))
    missing = _free_names(tree, defined)
    chosen: dict[tuple[int, int], tuple[str, ast.stmt]] = {}
    while missing:
        name = missing.pop()
        if name in defined or name not in providers:
            continue
        b, i, other_text, stmt = providers[name]
        defined.add(name)
        if (b, i) not in chosen:
            chosen[(b, i)] = (other_text, stmt)
            missing |= _free_names(stmt, defined)
    extra = [ast.get_source_segment(t, stmt) or "" for _, (t, stmt) in sorted(chosen.items(), key=lambda kv: kv[0])]
    return "\n".join(extra) + ("\n\n" if extra else "") + text
