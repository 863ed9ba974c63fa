"""A task file's termination rule (``terminate_when = "torso_height < 0.3"``), parsed into a safe expression.

The rule is read with :func:`ast.parse` and rebuilt from an allow-list — state field names (a vector field
indexed by a constant, ``up_vector[2]``), numbers, ``+ - * /``, comparisons (chained too), ``and``/``or``/
``not``, ``abs``/``min``/``max`` — into a tree of small closures; nothing is ever ``eval``-ed. The tree is
evaluated over named arrays with any leading batch shape and an array namespace, so the same rule serves
one Gymnasium env (``numpy`` on scalars) and a batch of envs in a JAX program (``jax.numpy``).
Every mistake is one :class:`~core.errors.TaskError` line that names it.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from rewardsmith.core.errors import TaskError
from rewardsmith.core.state import StateField

MAX_LENGTH = 500
"""Longest rule accepted, in characters (a rule is a line, not a program)."""
MAX_NODES = 200
"""Most syntax nodes in one rule."""

Values = Mapping[str, Any]
_Eval = Callable[[Values, ModuleType], Any]
_COMPARE: dict[type[ast.cmpop], str] = {
    ast.Lt: "less", ast.LtE: "less_equal", ast.Gt: "greater", ast.GtE: "greater_equal",
    ast.Eq: "equal", ast.NotEq: "not_equal",
}
_ARITH: dict[type[ast.operator], str] = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide"}
_CALLS = {"abs": "abs", "min": "minimum", "max": "maximum"}


@dataclass(frozen=True)
class Condition:
    """A parsed rule: :meth:`evaluate` gives a boolean array over the batch shape of its inputs."""

    text: str
    """The rule as the task file wrote it."""
    names: tuple[str, ...]
    """The state fields it reads."""
    _root: _Eval

    def evaluate(self, values: Values, xp: ModuleType = np) -> Any:
        """The rule over named arrays (``(*batch, *field_shape)``); ``xp``: ``numpy`` or ``jax.numpy``."""
        return self._root(values, xp)


def parse_condition(text: str, fields: Mapping[str, StateField], where: str = "terminate_when") -> Condition:
    """Parse ``text`` over ``fields``; a rule that does not parse, names an unknown field or is not a condition is
    a one-line :class:`TaskError` starting with ``where``."""
    text = text.strip()
    if not text:
        raise TaskError(f"{where}: the rule is empty; write a condition over the state fields, e.g. 'torso_height < 0.3'")
    if len(text) > MAX_LENGTH or "\n" in text:
        raise TaskError(f"{where}: the rule must be one line of at most {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        col = f" at column {exc.offset}" if exc.offset else ""
        raise TaskError(f"{where}: {text!r} does not parse ({exc.msg}{col})") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise TaskError(f"{where}: the rule has more than {MAX_NODES} parts; split the condition into fewer terms")
    builder = _Builder(text, fields, where)
    kind, root = builder.build(tree.body)
    if kind != "bool":
        raise TaskError(f"{where}: {text!r} is a number, not a condition; compare it, e.g. '{text} < 0.3'")
    return Condition(text=text, names=tuple(sorted(builder.used)), _root=root)


class _Builder:
    """Turns allowed syntax nodes into closures, tracking whether each is a number or a condition."""

    def __init__(self, text: str, fields: Mapping[str, StateField], where: str) -> None:
        self.text, self.fields, self.where = text, fields, where
        self.used: set[str] = set()

    def fail(self, node: ast.AST, message: str) -> TaskError:
        part = ast.get_source_segment(self.text, node) or self.text
        return TaskError(f"{self.where}: {message} (in {part!r})")

    def number(self, node: ast.expr) -> _Eval:
        kind, fn = self.build(node)
        if kind != "number":
            raise self.fail(node, "a condition is used where a number is expected")
        return fn

    def condition(self, node: ast.expr) -> _Eval:
        kind, fn = self.build(node)
        if kind != "bool":
            raise self.fail(node, "a number is used where a condition is expected; compare it with < or >")
        return fn

    def build(self, node: ast.expr) -> tuple[str, _Eval]:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise self.fail(node, "only numbers may be written as constants")
            value = float(node.value)
            return "number", lambda v, xp: value
        if isinstance(node, ast.Name):
            return "number", self.field(node, node.id, None)
        if isinstance(node, ast.Subscript):
            return "number", self.subscript(node)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.BinOp):
            op = _ARITH.get(type(node.op))
            if op is None:
                raise self.fail(node, "only + - * / are allowed")
            left, right = self.number(node.left), self.number(node.right)
            return "number", lambda v, xp: getattr(xp, op)(left(v, xp), right(v, xp))
        if isinstance(node, ast.Compare):
            return "bool", self.compare(node)
        if isinstance(node, ast.BoolOp):
            parts = [self.condition(p) for p in node.values]
            combine = "logical_and" if isinstance(node.op, ast.And) else "logical_or"

            def boolop(v: Values, xp: ModuleType) -> Any:
                out = parts[0](v, xp)
                for p in parts[1:]:
                    out = getattr(xp, combine)(out, p(v, xp))
                return out
            return "bool", boolop
        if isinstance(node, ast.Call):
            return "number", self.call(node)
        raise self.fail(node, f"{type(node).__name__} is not allowed; write field names, numbers, + - * /, comparisons, "
                              "and/or/not, abs/min/max")

    def field(self, node: ast.AST, name: str, index: int | None) -> _Eval:
        f = self.fields.get(name)
        if f is None:
            close = difflib.get_close_matches(name, list(self.fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self.fail(node, f"unknown state field {name!r}{hint}; the fields: {', '.join(self.fields)}")
        self.used.add(name)
        if index is None:
            if f.shape:
                raise self.fail(node, f"{name!r} has shape {f.shape}: index one element, e.g. {name}[0]")
            return lambda v, xp: v[name]
        if len(f.shape) != 1 or not -f.shape[0] <= index < f.shape[0]:
            raise self.fail(node, f"{name}[{index}] is out of range: {name!r} has shape {f.shape or '()'}")
        return lambda v, xp: v[name][..., index]

    def subscript(self, node: ast.Subscript) -> _Eval:
        index = node.slice
        if isinstance(index, ast.UnaryOp) and isinstance(index.op, ast.USub) and isinstance(index.operand, ast.Constant):
            index = ast.Constant(-index.operand.value) if isinstance(index.operand.value, int) else index
        if not (isinstance(node.value, ast.Name) and isinstance(index, ast.Constant)
                and isinstance(index.value, int) and not isinstance(index.value, bool)):
            raise self.fail(node, "only a field indexed by a whole number is allowed, e.g. up_vector[2]")
        return self.field(node, node.value.id, index.value)

    def unary(self, node: ast.UnaryOp) -> tuple[str, _Eval]:
        if isinstance(node.op, ast.Not):
            inner = self.condition(node.operand)
            return "bool", lambda v, xp: xp.logical_not(inner(v, xp))
        if isinstance(node.op, ast.USub | ast.UAdd):
            operand = self.number(node.operand)
            if isinstance(node.op, ast.UAdd):
                return "number", operand
            return "number", lambda v, xp: xp.negative(operand(v, xp))
        raise self.fail(node, "only 'not', unary minus and plus are allowed")

    def compare(self, node: ast.Compare) -> _Eval:
        ops = []
        for op in node.ops:
            name = _COMPARE.get(type(op))
            if name is None:
                raise self.fail(node, "only < <= > >= == != compare numbers")
            ops.append(name)
        terms = [self.number(node.left), *(self.number(c) for c in node.comparators)]

        def chained(v: Values, xp: ModuleType) -> Any:  # a < b < c means a < b and b < c, as in Python
            values = [t(v, xp) for t in terms]
            out = getattr(xp, ops[0])(values[0], values[1])
            for i, op in enumerate(ops[1:], start=1):
                out = xp.logical_and(out, getattr(xp, op)(values[i], values[i + 1]))
            return out
        return chained

    def call(self, node: ast.Call) -> _Eval:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in _CALLS or node.keywords:
            raise self.fail(node, "only abs(x), min(a, b, ...) and max(a, b, ...) may be called")
        args = [self.number(a) for a in node.args]
        if name == "abs":
            if len(args) != 1:
                raise self.fail(node, "abs takes one number")
            return lambda v, xp: xp.abs(args[0](v, xp))
        if len(args) < 2:
            raise self.fail(node, f"{name} takes two or more numbers")
        op = _CALLS[name]

        def reduce(v: Values, xp: ModuleType) -> Any:
            out = args[0](v, xp)
            for a in args[1:]:
                out = getattr(xp, op)(out, a(v, xp))
            return out
        return reduce
