"""Layer 1: static check of reward source (milliseconds, no candidate code runs).

An ``ast`` allow-list: imports only ``numpy``/``math``/``typing``; numpy and math attributes from the
allow-lists in :mod:`sandboxes.allowlist`; no dunder names, no underscore attributes; no unknown names (so no
``open``/``eval``/``getattr``/``__import__``); no attributes that tell the numpy and jax backends apart
(:data:`sandboxes.allowlist.BACKEND_ATTRS`); no writes into the arguments or into module attributes; no classes, decorators, ``global``, generators or async code; size caps. numpy's ways of
reinterpreting memory are closed as a class: ``np.ndarray`` only as a type, no ``buffer=``/``offset=``/
``strides=``, and every dtype written out as a plain real number type where numpy takes one (see
:mod:`sandboxes.allowlist`). Every rejection carries a line number and is worded so that a designer can fix it.
"""

from __future__ import annotations

import ast
import builtins
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from rewardsmith.sandboxes import allowlist

_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Module, ast.FunctionDef, ast.arguments, ast.arg, ast.Return, ast.Assign, ast.AugAssign,
    ast.AnnAssign, ast.For, ast.While, ast.If, ast.With, ast.withitem, ast.Expr, ast.Pass, ast.Break,
    ast.Continue, ast.Try, ast.ExceptHandler, ast.Raise, ast.Assert, ast.BoolOp, ast.BinOp, ast.UnaryOp,
    ast.Lambda, ast.IfExp, ast.Dict, ast.Set, ast.ListComp, ast.SetComp, ast.DictComp, ast.comprehension,
    ast.Compare, ast.Call, ast.keyword, ast.Constant, ast.Attribute, ast.Subscript, ast.Starred, ast.Name,
    ast.List, ast.Tuple, ast.Slice, ast.Load, ast.Store, ast.JoinedStr, ast.FormattedValue, ast.Import,
    ast.ImportFrom, ast.alias, ast.NamedExpr, ast.boolop, ast.operator, ast.unaryop, ast.cmpop,
    ast.expr_context,
)
_NODE_ADVICE = {
    ast.ClassDef: "classes are not allowed; use functions",
    ast.Global: "'global' is not allowed: a reward must not keep state between calls",
    ast.Nonlocal: "'nonlocal' is not allowed: a reward must not keep state between calls",
    ast.Yield: "generators are not allowed",
    ast.YieldFrom: "generators are not allowed",
    ast.GeneratorExp: "generator expressions are not allowed; use a list comprehension",
    ast.AsyncFunctionDef: "async code is not allowed",
    ast.Await: "async code is not allowed",
    ast.Delete: "'del' is not allowed",
    ast.Match: "'match' statements are not allowed; use if/elif",
}


@dataclass(frozen=True)
class Issue:
    """One finding, with the line it is about (1-based; 0 = the whole file)."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass(frozen=True)
class StaticReport:
    """Verdict of the static check. ``errors`` reject the code; ``warnings`` are advice."""

    errors: tuple[Issue, ...]
    warnings: tuple[Issue, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.errors

    def message(self) -> str:
        """All errors, one per line, for the designer to read."""
        return "\n".join(str(e) for e in self.errors)


def check_source(source: str) -> StaticReport:
    """Run every static rule on ``source`` and return the report (never raises on bad code)."""
    if len(source) > allowlist.MAX_SOURCE_CHARS:
        return StaticReport((Issue(0, f"the code is {len(source)} characters; the limit is {allowlist.MAX_SOURCE_CHARS}"),))
    for lineno, text in enumerate(source.splitlines(), 1):
        bad = [c for c in text if unicodedata.category(c) in ("Cf", "Co", "Cs")]
        if bad:
            return StaticReport((Issue(lineno, f"invisible or private-use character U+{ord(bad[0]):04X} is not allowed"),))
    try:
        tree = ast.parse(source, filename="reward.py")
    except SyntaxError as exc:
        return StaticReport((Issue(exc.lineno or 0, f"syntax error: {exc.msg}"),))
    except (ValueError, RecursionError, MemoryError) as exc:
        return StaticReport((Issue(0, f"the code cannot be parsed: {type(exc).__name__}"),))
    nodes = list(ast.walk(tree))
    if len(nodes) > allowlist.MAX_AST_NODES:
        return StaticReport((Issue(0, f"the code has {len(nodes)} syntax nodes; the limit is {allowlist.MAX_AST_NODES}"),))
    checker = _Checker(tree)
    checker.run()
    by_line = sorted(checker.errors, key=lambda i: i.line)
    return StaticReport(tuple(by_line), tuple(sorted(checker.warnings, key=lambda i: i.line)))


class _Checker:
    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.errors: list[Issue] = []
        self.warnings: list[Issue] = []
        self.modules: dict[str, str] = {}  # local alias -> module name ("np" -> "numpy")
        self.imported_names: dict[str, str] = {}  # local name -> "module.attr"
        self.bound: set[str] = set()
        self.params: set[str] = set()
        self.module_globals: set[str] = set()
        self.parents: dict[ast.AST, ast.AST] = {}
        self.type_positions: set[ast.AST] = set()  # annotation parts and isinstance() classes: types, not calls

    def error(self, node: ast.AST | None, message: str) -> None:
        self.errors.append(Issue(getattr(node, "lineno", 0), message))

    def warn(self, node: ast.AST, message: str) -> None:
        self.warnings.append(Issue(getattr(node, "lineno", 0), message))

    def run(self) -> None:
        for parent in ast.walk(self.tree):
            for child in ast.iter_child_nodes(parent):
                self.parents[child] = parent
        self._check_top_level()
        self._collect_bindings()
        self._collect_type_positions()
        for node in ast.walk(self.tree):
            self._check_node(node)
        self._check_entry_point()

    # -- structure ------------------------------------------------------------------------------
    def _check_top_level(self) -> None:
        for stmt in self.tree.body:
            if isinstance(stmt, ast.Import | ast.ImportFrom | ast.FunctionDef):
                continue
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                continue  # docstring
            if isinstance(stmt, ast.Assign | ast.AnnAssign):
                self._check_constant_expr(stmt.value)
                continue
            self.error(stmt, f"only imports, constants and functions may appear at module level, not "
                             f"{type(stmt).__name__.lower()} statements")

    def _check_constant_expr(self, value: ast.expr | None) -> None:
        if value is None:
            return
        for node in ast.walk(value):
            if isinstance(node, ast.Lambda | ast.ListComp | ast.DictComp | ast.SetComp):
                self.error(node, "module-level constants must be plain values (numbers, strings, tuples, np.array(...))")
                return

    def _collect_bindings(self) -> None:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name not in allowlist.ALLOWED_IMPORTS:
                        self.error(node, f"import of {a.name!r} is not allowed; only numpy and math may be imported")
                        continue
                    local = a.asname or a.name.split(".")[0]
                    self.modules[local] = a.name if a.asname else a.name.split(".")[0]
                    self.bound.add(local)
            elif isinstance(node, ast.ImportFrom):
                self._check_import_from(node)
            elif isinstance(node, ast.FunctionDef | ast.Lambda):
                args = node.args
                params = [p for p in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg) if p]
                self.bound.update(p.arg for p in params)
                if isinstance(node, ast.FunctionDef):
                    self.bound.add(node.name)
                    # A parameter the function rebinds (``v = np.copy(v)``) may be written afterwards.
                    rebound = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
                               and not isinstance(self.parents.get(n), ast.AugAssign)}
                    self.params.update(p.arg for p in params if p.arg not in rebound)
                    for default in (*args.defaults, *args.kw_defaults):
                        if isinstance(default, ast.List | ast.Dict | ast.Set | ast.ListComp | ast.DictComp | ast.SetComp):
                            self.error(default, f"mutable default arguments (in {node.name!r}) keep state between "
                                                "calls; use None or a tuple")
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                self.bound.add(node.id)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                self.bound.add(node.name)
        for stmt in self.tree.body:
            if isinstance(stmt, ast.Assign | ast.AnnAssign):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for t in targets:
                    self.module_globals.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))

    def _collect_type_positions(self) -> None:
        roots: list[ast.expr] = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.FunctionDef) and node.returns is not None:
                roots.append(node.returns)
            elif isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None:
                roots.append(node.annotation)
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance"
                  and "isinstance" not in self.bound and len(node.args) == 2):
                roots.append(node.args[1])
        # Only the type expression itself, never what a call inside it computes (``x: np.ndarray(...)``).
        todo: list[ast.AST] = list(roots)
        while todo:
            node = todo.pop()
            self.type_positions.add(node)
            if isinstance(node, ast.Subscript | ast.Tuple | ast.BinOp | ast.Attribute | ast.Name | ast.List):
                todo.extend(ast.iter_child_nodes(node))

    def _check_import_from(self, node: ast.ImportFrom) -> None:
        mod = node.module or ""
        allowed = {"numpy": allowlist.NUMPY_ATTRS, "math": allowlist.MATH_ATTRS, "typing": allowlist.TYPING_NAMES,
                   "numpy.linalg": allowlist.NUMPY_LINALG_ATTRS}.get(mod)
        if node.level or allowed is None:
            self.error(node, f"import from {mod!r} is not allowed; only numpy and math may be imported")
            return
        for a in node.names:
            if a.name not in allowed:
                self.error(node, f"'from {mod} import {a.name}' is not allowed: {mod}.{a.name} is not on the allow-list")
                continue
            local = a.asname or a.name
            self.bound.add(local)
            if mod == "numpy" and a.name == "linalg":
                self.modules[local] = "numpy.linalg"
            else:
                self.imported_names[local] = f"{mod}.{a.name}"

    def _check_entry_point(self) -> None:
        defs = [s for s in self.tree.body if isinstance(s, ast.FunctionDef) and s.name == "compute_reward"]
        if not defs:
            self.error(None, "there is no module-level function 'def compute_reward(state, action)'")
            return
        fn = defs[-1]
        args = fn.args
        positional = [*args.posonlyargs, *args.args]
        if len(positional) != 2 or args.vararg or args.kwarg or args.kwonlyargs:
            self.error(fn, "compute_reward must take exactly two arguments: (state, action)")

    # -- per node --------------------------------------------------------------------------------
    def _check_node(self, node: ast.AST) -> None:
        if not isinstance(node, _ALLOWED_NODES):
            advice = _NODE_ADVICE.get(type(node), f"{type(node).__name__} is not allowed in reward code")
            self.error(node, advice)
            return
        if isinstance(node, ast.FunctionDef):
            if node.decorator_list:
                self.error(node, f"decorators are not allowed (on {node.name!r})")
            if node.name.startswith("__"):  # a helper like ``_uprightness`` is ordinary style; dunders are not
                self.error(node, f"dunder names are not allowed ({node.name!r})")
        elif isinstance(node, ast.Name):
            self._check_name(node)
            self._check_module_use(node)
            self._check_numpy_value_use(node)
        elif isinstance(node, ast.Attribute):
            self._check_attribute(node)
            self._check_module_use(node)
            self._check_numpy_value_use(node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
            text = node.value if isinstance(node.value, str) else node.value.decode("latin-1")
            if "__" in text:
                self.error(node, "string constants containing '__' are not allowed")
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                self._check_store_target(t, augmented=isinstance(node, ast.AugAssign))
        elif isinstance(node, ast.Call):
            self._check_call(node)
        elif isinstance(node, ast.While):
            self._check_while(node)
        elif isinstance(node, ast.With):
            for item in node.items:
                if not self._is_numpy_call(item.context_expr, "errstate"):
                    self.error(node, "'with' is only allowed as 'with np.errstate(...)'")

    def _check_name(self, node: ast.Name) -> None:
        name = node.id
        if name.startswith("__"):
            self.error(node, f"dunder names are not allowed ({name!r})")
        elif isinstance(node.ctx, ast.Load) and name not in self.bound and name not in allowlist.SAFE_BUILTINS:
            if hasattr(builtins, name):
                self.error(node, f"the builtin {name!r} is not allowed in reward code")
            else:
                self.error(node, f"name {name!r} is not defined")
        elif isinstance(node.ctx, ast.Store) and name in self.modules:
            self.error(node, f"rebinding the module name {name!r} is not allowed")

    def _check_attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr.startswith("_"):
            self.error(node, f"attributes starting with '_' are not allowed ({attr!r})")
            return
        module = self._module_of(node.value)
        if module == "numpy":
            if attr == "random":
                self.error(node, "np.random is not allowed: a reward must be deterministic")
            elif attr not in allowlist.NUMPY_ATTRS:
                self.error(node, f"np.{attr} is not on the allow-list of numpy functions")
        elif module == "numpy.linalg":
            if attr not in allowlist.NUMPY_LINALG_ATTRS:
                self.error(node, f"np.linalg.{attr} is not on the allow-list")
        elif module == "math":
            if attr not in allowlist.MATH_ATTRS:
                self.error(node, f"math.{attr} is not on the allow-list")
        elif module == "typing":
            if attr not in allowlist.TYPING_NAMES:
                self.error(node, f"typing.{attr} is not allowed")
        elif attr in allowlist.DENIED_ATTRS:
            self.error(node, f"the attribute {attr!r} is not allowed in reward code")
        elif attr in allowlist.BACKEND_ATTRS:
            self.error(node, f"the attribute {attr!r} is not allowed in reward code: it tells the numpy and jax "
                             "backends apart (or reaches the runtime behind an array), and a reward must compute "
                             "the same on both")

    def _check_module_use(self, node: ast.Name | ast.Attribute) -> None:
        # A module may only be the receiver of an allow-listed attribute. Stored, passed or returned,
        # it would let later code reach attributes the checker can no longer see (``m = np; m.lib``).
        module = self._module_of(node)
        if module is None or not isinstance(node.ctx, ast.Load):
            return
        parent = self.parents.get(node)
        if not (isinstance(parent, ast.Attribute) and parent.value is node):
            shown = "np" if module.startswith("numpy") else module
            self.error(node, f"the module {module!r} may only be used as {shown}.<name>(...); it cannot be "
                             "assigned, passed, returned or stored")

    def _numpy_name(self, node: ast.expr) -> str | None:
        """``zeros`` for ``np.zeros`` or a ``from numpy import zeros`` name; None for anything else."""
        if isinstance(node, ast.Attribute) and self._module_of(node.value) == "numpy":
            return node.attr
        if isinstance(node, ast.Name) and node.id in self.imported_names:
            module, _, name = self.imported_names[node.id].rpartition(".")
            return name if module == "numpy" else None
        return None

    def _called_directly(self, node: ast.expr) -> bool:
        parent = self.parents.get(node)
        return isinstance(parent, ast.Call) and parent.func is node

    def _check_numpy_value_use(self, node: ast.Name | ast.Attribute) -> None:
        # A callable that takes a dtype must be called where the checker can see its arguments: stored,
        # passed or returned (``make = np.zeros``, ``map(x.astype, ...)``) its dtype would arrive unseen.
        if not isinstance(node.ctx, ast.Load):
            return
        name = self._numpy_name(node)
        if name in allowlist.TYPE_ONLY_NUMPY:
            if node in self.type_positions or (name == "dtype" and self._called_directly(node)):
                return
            if name == "ndarray":
                self.error(node, "np.ndarray may only be used as a type (isinstance(x, np.ndarray) or an annotation): "
                                 "calling it builds an array over raw memory (buffer, offset, strides), which is "
                                 "not allowed; create arrays with np.array, np.asarray, np.zeros or np.full")
            else:
                self.error(node, "np.dtype may only be called with a real number type (np.dtype('float32')) or used "
                                 "in isinstance(); it cannot be assigned, passed or returned")
        elif name is not None and name in allowlist.DTYPE_ARG_POSITIONS and not self._called_directly(node):
            self.error(node, f"np.{name} takes a dtype, so it must be called directly (np.{name}(...)); it cannot be "
                             "assigned, passed, returned or stored")
        elif (isinstance(node, ast.Attribute) and name is None and self._module_of(node.value) is None
              and node.attr in allowlist.DTYPE_METHOD_POSITIONS and not self._called_directly(node)):
            self.error(node, f".{node.attr} takes a dtype, so it must be called directly (x.{node.attr}(...)); the "
                             "method cannot be assigned, passed, returned or stored")

    def _check_dtype_args(self, node: ast.Call) -> None:
        func = node.func
        name = self._numpy_name(func)
        position: int | None = None
        if name is not None:
            label, position = f"np.{name}", allowlist.DTYPE_ARG_POSITIONS.get(name)
        elif isinstance(func, ast.Attribute) and self._module_of(func.value) is None:
            label, position = f".{func.attr}()", allowlist.DTYPE_METHOD_POSITIONS.get(func.attr)
        else:
            label = f"{func.id}()" if isinstance(func, ast.Name) else "this call"
        for kw in node.keywords:
            if kw.arg is None:
                self.error(node, "keyword unpacking (**kwargs) in calls is not allowed in reward code; pass the "
                                 "arguments by name")
            elif kw.arg in allowlist.RAW_MEMORY_KEYWORDS:
                self.error(node, f"the keyword '{kw.arg}=' lays an array over raw memory and is not allowed")
            elif kw.arg in allowlist.REFUSED_KEYWORDS:
                self.error(node, f"the keyword '{kw.arg}=' (ufunc loop type codes) is not allowed; convert the "
                                 "inputs with .astype(np.float64) instead")
            elif kw.arg in allowlist.DTYPE_KEYWORDS:
                self._check_dtype_spec(kw.value, label)
        if position is None:
            return
        before = node.args[: position + 1]
        if any(isinstance(a, ast.Starred) for a in before):
            self.error(node, f"argument unpacking (*args) is not allowed in calls to {label}, which takes a dtype; "
                             "pass the arguments explicitly")
        elif len(node.args) > position:
            self._check_dtype_spec(node.args[position], label)

    def _check_dtype_spec(self, value: ast.expr, label: str) -> None:
        """A dtype must be written out as a plain real number type; object, void, record, structured,
        string and computed dtypes are refused (they can reinterpret memory or hold objects)."""
        advice = (f"the dtype given to {label} must be written out as a real number type: np.float64, np.float32, "
                  "np.int64, np.bool_, float, int, bool, a string such as 'float32', or x.dtype")
        if isinstance(value, ast.Constant) and value.value is None:
            return
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            problem = _dtype_string_problem(value.value)
            if problem:
                self.error(value, f"{problem}; {advice}")
            return
        if isinstance(value, ast.Name) and value.id in allowlist.BUILTIN_DTYPES and value.id not in self.bound:
            return
        if self._numpy_name(value) in allowlist.NUMERIC_DTYPES:
            return
        if isinstance(value, ast.Attribute) and value.attr == "dtype" and self._module_of(value.value) is None:
            return
        shown = ast.unparse(value)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        self.error(value, f"{advice}, not {shown!r} (object, void, record and structured dtypes can reinterpret "
                          "memory, and a dtype cannot be computed or passed in a variable)")

    def _module_of(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return self.modules.get(node.id)
        if isinstance(node, ast.Attribute) and node.attr == "linalg" and self._module_of(node.value) == "numpy":
            return "numpy.linalg"
        return None

    def _root_name(self, node: ast.expr) -> str | None:
        while isinstance(node, ast.Attribute | ast.Subscript):
            node = node.value
        return node.id if isinstance(node, ast.Name) else None

    def _check_store_target(self, target: ast.expr, augmented: bool) -> None:
        for t in _target_parts(target):
            if isinstance(t, ast.Attribute | ast.Subscript):
                root = self._root_name(t)
                if root in self.modules:
                    self.error(t, f"assigning into the module {root!r} (monkeypatching) is not allowed")
                elif root in self.params:
                    self.error(t, f"writing into the argument {root!r} is not allowed: copy it first, "
                                  f"e.g. x = np.array({root}...)")
                elif isinstance(t, ast.Attribute):
                    self.error(t, "assigning attributes is not allowed")
                elif root in self.module_globals:
                    self.error(t, f"writing into the module-level {root!r} makes the reward keep state between "
                                  "calls; build a new local value instead")
        if augmented and isinstance(target, ast.Name) and target.id in self.params:
            self.error(target, f"augmented assignment to the argument {target.id!r} changes it in place; "
                               f"write {target.id} = {target.id} + ... or use a new name")

    def _check_call(self, node: ast.Call) -> None:
        func = node.func
        self._check_dtype_args(node)
        if isinstance(func, ast.Attribute):
            if self._module_of(func.value) == "numpy" and func.attr in allowlist.INPLACE_NUMPY_FUNCS:
                self.error(node, f"np.{func.attr} writes in place and is not allowed")
            elif func.attr == "at" and node.args and self._root_name(node.args[0]) in self.params:
                self.error(node, f"ufunc .at() writes into the argument {self._root_name(node.args[0])!r} in place")
            elif func.attr in allowlist.INPLACE_METHODS and self._root_name(func.value) in self.params:
                self.error(node, f".{func.attr}() would change the argument {self._root_name(func.value)!r} in place")
            elif func.attr in {"append", "extend", "update", "add", "insert", "setdefault", "pop", "clear"}:
                root = self._root_name(func.value)
                if root in self.module_globals:
                    self.error(node, f"calling .{func.attr}() on the module-level {root!r} makes the reward keep "
                                     "state between calls; build a new local value instead")
        if isinstance(func, ast.Name) and func.id == "print":
            self.warn(node, "print() output is discarded during training")
        for kw in node.keywords:
            if kw.arg == "out" and self._root_name(kw.value) in self.params:
                self.error(node, "out= pointing at an argument writes into it; allocate a new array instead")

    def _is_numpy_call(self, node: ast.expr, name: str) -> bool:
        return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == name
                and self._module_of(node.func.value) == "numpy")

    def _check_while(self, node: ast.While) -> None:
        test = node.test
        always = isinstance(test, ast.Constant) and bool(test.value)
        exits = any(isinstance(n, ast.Break | ast.Return | ast.Raise) for n in ast.walk(node))
        if always and not exits:
            self.error(node, "this 'while' loop can never end")


def _dtype_string_problem(text: str) -> str | None:
    """Why the string dtype ``text`` is refused (None when it names a plain real number type)."""
    try:
        dtype = np.dtype(text)
    except (TypeError, ValueError, SyntaxError):
        return f"{text[:40]!r} is not a numpy dtype"
    if dtype.names is not None or dtype.subdtype is not None:
        return f"{text[:40]!r} is a structured (record) dtype, which is not allowed"
    if dtype.kind not in allowlist.DTYPE_KINDS:
        what = {"O": "the object dtype", "V": "a void (raw bytes) dtype", "S": "a bytes dtype", "U": "a string dtype",
                "c": "a complex dtype", "M": "a datetime dtype", "m": "a timedelta dtype"}.get(dtype.kind, "not a real number type")
        return f"{text[:40]!r} is {what}, which is not allowed"
    return None


def _target_parts(target: ast.expr) -> list[ast.expr]:
    """The places an assignment writes to (``a, (b[i], *c) = ...`` → a, b[i], c), not the index expressions."""
    if isinstance(target, ast.Tuple | ast.List):
        return [part for elt in target.elts for part in _target_parts(elt)]
    if isinstance(target, ast.Starred):
        return _target_parts(target.value)
    return [target]
