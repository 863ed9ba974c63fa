"""The rules an exported reward module's StableHLO must pass, read from its text (no backend runs it).

:func:`check_stablehlo` walks every operation of the module once and refuses, with a typed
:class:`ModuleRejected`:

- anything but ``builtin``/``func``/``stablehlo`` operations; custom calls except ``shape_assertion``;
  I/O, collectives, barriers and random numbers (``rng``: a reward is a deterministic function);
  ``stablehlo.composite`` except the pure CHLO math JAX exports that way (``chlo.asin`` … ``chlo.cosh``:
  ``jnp.arcsin``, ``jnp.cosh`` and the like), whose decomposition is a function of the module, checked
  like the others;
- a ``while`` loop without a static trip count (JAX's ``fori_loop``/``scan`` shape: a scalar integer
  counter that starts at a constant, is compared ``<`` a constant and grows by a constant step) or with
  more than ``max_loop_trips`` iterations: a loop that stops on data may never stop off the probe's states;
- ``case``/``if`` on data: jax.numpy code traced per row under ``vmap`` never branches (a ``where``
  computes both sides), so a module that does was crafted, and its cost could differ off the probe;
- a module whose result depends on the platform it runs on. JAX exports for cpu *and* cuda; the module
  then takes the platform's index as its first argument and branches on it where a lowering differs.
  Only the cpu branch can be run and compared here, so every use of that index is followed (through
  calls, into branches): it may only pick between branches that are the same operations (``cumsum``
  lowers like that), or between constants that pick such branches. Anything else — a branch that differs,
  the index used as a number — is refused, so every platform computes what the cpu run checked;
- more than ``max_ops`` operations, a tensor of more than ``max_tensor_elements`` elements per row, or
  constants of more than ``max_constant_elements`` elements in all (a splat constant is a few bytes of
  module and any number of bytes of memory).

With no data-dependent control flow left, a module's cost depends on its input shapes only: the
checker child (:mod:`sandboxes.jax.module_check`) measures it once at the training batch size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from rewardsmith.core.text import printable
from rewardsmith.sandboxes import allowlist
from rewardsmith.sandboxes.faults import Fault

RejectReason = Literal["malformed", "too_large", "safety_checks", "effects", "devices", "platforms",
                       "calling_convention", "schema", "custom_call", "op_not_allowed", "too_many_ops", "vjp",
                       "loop", "control_flow", "nondeterministic", "call_failed", "slow", "memory"]

_DENIED_STABLEHLO = frozenset({
    "infeed", "outfeed", "send", "recv", "all_reduce", "all_gather", "all_to_all", "reduce_scatter",
    "collective_permute", "collective_broadcast", "partition_id", "replica_id", "optimization_barrier",
})
_NONDETERMINISTIC = frozenset({"rng", "rng_bit_generator"})
_ALLOWED_NON_STABLEHLO = frozenset({"builtin.module", "func.func", "func.call", "func.return"})
_ALLOWED_CUSTOM_CALLS = frozenset({"shape_assertion"})
ALLOWED_COMPOSITES = frozenset(f"chlo.{name}" for name in """
acos acosh asin asinh atan atanh bessel_i1e conj cosh digamma erf erf_inv erfc is_inf is_neg_inf is_pos_inf
lgamma next_after polygamma sinh tan top_k zeta
""".split())
"""Pure CHLO math that JAX serializes as ``stablehlo.composite`` with a decomposition in the module."""
_BRANCHES = frozenset({"stablehlo.case", "stablehlo.if"})
_MAX_COUNTER = 1 << 24
"""Loop bounds and steps stay far from integer overflow (a counter that wraps never reaches its bound)."""


class ModuleRejected(Fault[RejectReason]):
    """The exported module must not be used. ``reason`` is machine-readable; ``message`` is one line, safe to
    show on a terminal (the module's author chose the names it quotes)."""

    def __init__(self, kind: RejectReason, message: str) -> None:
        super().__init__(kind, printable(message, limit=600))

    @property
    def reason(self) -> RejectReason:
        return self.kind


@dataclass(frozen=True)
class ModuleLimits:
    """Caps on an exported reward module: its size and shape (here), its cost at the training batch size
    (measured by the checker child, :mod:`sandboxes.jax.module_check`), and the child's memory."""

    max_bytes: int = 512 * 1024
    """Largest serialized module."""
    max_ops: int = 20_000
    """Most MLIR operations in the module (Python loops unroll at trace time)."""
    max_loop_trips: int = 10_000
    """Most iterations of one ``while`` loop (they all have a static trip count)."""
    max_tensor_elements: int = 1 << 20
    """Most elements of one tensor, the batch dimension counted as 1."""
    max_constant_elements: int = 1 << 18
    """Most elements of all constants together."""
    call_floor_ms: float = 2.0
    """One call at the training batch size may always take this long (timer noise at small batches)."""
    call_ratio: float = 50.0
    """…or this many times the reference module's call (:mod:`sandboxes.jax.module_check` says why)."""
    call_timeout_s: float = 5.0
    """A call at the training batch size still running after this is killed (and the module refused)."""
    max_call_memory_mb: int = 512
    """Most memory (XLA's buffer assignment: arguments, outputs, temporaries) of one call at the batch size."""
    memory_mb: int = 2048
    """Address space (RLIMIT_AS) the checker child may add to what jax took at its start."""


def check_stablehlo(text: str, multi_platform: bool, limits: ModuleLimits) -> None:
    """Parse the module's StableHLO text and apply every rule above.

    ``multi_platform``: the module was exported for several platforms, so ``main`` takes the platform
    index as its first argument.

    Raises:
        ModuleRejected: the first rule broken.
    """
    from jax._src.interpreters import mlir as jax_mlir
    from jax._src.lib.mlir import ir

    with jax_mlir.make_ir_context():
        try:
            module = ir.Module.parse(text)
        except Exception as exc:
            raise ModuleRejected("malformed", f"the module's StableHLO does not parse: {type(exc).__name__}") from None
        funcs: dict[str, Any] = {}
        for view in module.body.operations:
            fn = view.operation
            if fn.name != "func.func":
                raise ModuleRejected("op_not_allowed", f"the module holds {_shown(fn.name)}; only functions are allowed")
            if not len(fn.regions[0].blocks):
                raise ModuleRejected("malformed", "the module declares a function without a body")
            funcs[ir.StringAttr(fn.attributes["sym_name"]).value] = fn
        if "main" not in funcs:
            raise ModuleRejected("malformed", "the module has no main function")
        _OpRules(funcs, limits).run()
        _PlatformFlow(funcs).run(multi_platform)


def _ops(region: Any) -> Iterator[Any]:
    """Every operation in ``region``, nested ones included, in program order (a definition before its uses)."""
    for block in region.blocks:
        for op in block.operations:
            op = op.operation
            yield op
            for inner in op.regions:
                yield from _ops(inner)


def _callee(op: Any, attr: str = "callee") -> str:
    from jax._src.lib.mlir import ir

    return str(ir.FlatSymbolRefAttr(op.attributes[attr]).value)


class _OpRules:
    """The per-operation rules: dialects, custom calls, composites, loops, sizes."""

    def __init__(self, funcs: dict[str, Any], limits: ModuleLimits) -> None:
        self.funcs, self.limits = funcs, limits
        self.count = 0
        self.constant_elements = 0

    def run(self) -> None:
        self.count = len(self.funcs)
        for fn in self.funcs.values():
            for op in _ops(fn.regions[0]):
                self.count += 1
                if self.count > self.limits.max_ops:
                    raise ModuleRejected("too_many_ops", f"the module has more than {self.limits.max_ops} operations")
                self._op(op)

    def _op(self, op: Any) -> None:
        from jax._src.lib.mlir import ir

        name = op.name
        if name == "stablehlo.custom_call":
            target = ir.StringAttr(op.attributes["call_target_name"]).value
            if target not in _ALLOWED_CUSTOM_CALLS:
                raise ModuleRejected("custom_call", f"the module calls custom call '{_shown(target)}'; only shape_assertion "
                                                    f"is allowed{_lapack_hint(target)}")
        elif name == "stablehlo.composite":
            composite = ir.StringAttr(op.attributes["name"]).value
            if composite not in ALLOWED_COMPOSITES or _callee(op, "decomposition") not in self.funcs:
                raise ModuleRejected("op_not_allowed", f"the module uses the composite '{_shown(composite)}'")
        elif name == "stablehlo.while":
            self._loop(op)
        elif name.startswith("stablehlo."):
            short = name.removeprefix("stablehlo.")
            if short in _NONDETERMINISTIC:
                raise ModuleRejected("nondeterministic", f"the module draws random numbers ({name}); a reward must "
                                                         "be a deterministic function of (state, action)")
            if short in _DENIED_STABLEHLO:
                raise ModuleRejected("op_not_allowed", f"the module uses {_shown(name)}")
        elif name == "func.call":
            if _callee(op) not in self.funcs:
                raise ModuleRejected("malformed", "the module calls a function it does not define")
        elif name not in _ALLOWED_NON_STABLEHLO:
            raise ModuleRejected("op_not_allowed", f"the module uses {_shown(name)}; only StableHLO and func operations are "
                                                   "allowed")
        self._sizes(op)

    def _sizes(self, op: Any) -> None:
        for result in op.results:
            elements = _static_elements(result.type)
            if elements > self.limits.max_tensor_elements:
                raise ModuleRejected("too_large", f"the module makes a tensor of {elements} elements per row "
                                                  f"({op.name}); at most {self.limits.max_tensor_elements} are allowed")
            if op.name == "stablehlo.constant":
                self.constant_elements += elements
                if self.constant_elements > self.limits.max_constant_elements:
                    raise ModuleRejected("too_large", f"the module's constants hold more than "
                                                      f"{self.limits.max_constant_elements} elements")

    def _loop(self, op: Any) -> None:
        trips = loop_trips(op)
        if trips is None:
            raise ModuleRejected("loop", "the module has a while loop whose number of iterations is not fixed "
                                         "(a loop that stops on data may never stop); only counted loops are allowed")
        if trips > self.limits.max_loop_trips:
            raise ModuleRejected("loop", f"the module has a while loop of {trips} iterations; at most "
                                         f"{self.limits.max_loop_trips} are allowed")


def _shown(text: str) -> str:
    """A name read from the module, safe to show (the module's author chose it)."""
    return printable(text, limit=80)


def _lapack_hint(target: str) -> str:
    if target.startswith(("lapack_", "cusolver", "cublas", "hipsolver")):
        return f" (a linear-algebra routine: {allowlist.JAX_LINALG_RULE})"
    return ""


def _static_elements(type_: Any) -> int:
    """Elements of a ranked tensor type, dynamic dimensions (the batch) counted as 1; 1 for other types."""
    from jax._src.lib.mlir import ir

    t = type_.maybe_downcast()
    if not isinstance(t, ir.RankedTensorType):
        return 1
    n = 1
    for i, d in enumerate(t.shape):
        n *= 1 if t.is_dynamic_dim(i) else max(d, 0)
    return n


def _int_constant(value: Any) -> int | None:
    """The integer of a scalar integer ``stablehlo.constant``; None for anything else."""
    from jax._src.lib.mlir import ir

    owner = value.owner
    if isinstance(owner, ir.Block) or owner.name != "stablehlo.constant":
        return None
    attr = owner.attributes["value"].maybe_downcast()
    if not isinstance(attr, ir.DenseIntElementsAttr) or list(ir.RankedTensorType(attr.type).shape) != []:
        return None
    return int(ir.IntegerAttr(attr.get_splat_value()).value)


def loop_trips(op: Any) -> int | None:
    """The trip count of a ``stablehlo.while`` in the counted-loop shape JAX gives ``fori_loop`` and
    ``scan``; None when the loop is of any other shape (its end then depends on data)."""
    from jax._src.lib.mlir import ir

    cond, body = (r.blocks[0] for r in op.regions)
    steps = [o.operation for o in cond.operations if o.operation.name != "stablehlo.constant"]
    if len(steps) != 2 or steps[0].name != "stablehlo.compare" or steps[1].name != "stablehlo.return":
        return None
    compare, ret = steps
    if list(ret.operands) != [compare.results[0]] or "comparison_direction LT" not in str(
            compare.attributes["comparison_direction"]):
        return None
    counter, bound = compare.operands
    if not isinstance(counter.owner, ir.Block) or counter.owner != cond:
        return None
    element = counter.type.maybe_downcast().element_type
    if not isinstance(element, ir.IntegerType) or element.width < 32:
        return None
    k = ir.BlockArgument(counter).arg_number
    start, end = _int_constant(op.operands[k]), _int_constant(bound)
    terminator = list(body.operations)[-1].operation
    add = terminator.operands[k].owner if terminator.name == "stablehlo.return" else None
    if start is None or end is None or add is None or isinstance(add, ir.Block) or add.name != "stablehlo.add":
        return None
    lhs, rhs = add.operands
    step = _int_constant(rhs) if lhs == body.arguments[k] else _int_constant(lhs) if rhs == body.arguments[k] else None
    # Non-negative and small: a counter that could wrap around (or compare as a huge unsigned) never stops.
    if step is None or not (0 <= start <= _MAX_COUNTER and 0 <= end <= _MAX_COUNTER and 1 <= step <= _MAX_COUNTER):
        return None
    return max(0, -(-(end - start) // step))


class _PlatformFlow:
    """Follow the platform index through the module (see the module docstring); refuse data branches too."""

    def __init__(self, funcs: dict[str, Any]) -> None:
        self.funcs = funcs
        self.tainted_args: dict[str, set[int]] = {name: set() for name in funcs}
        self.same = _SameOps(funcs)

    def run(self, multi_platform: bool) -> None:
        if multi_platform:
            self.tainted_args["main"].add(0)
        while True:  # until the tainted arguments stop growing (each pass can only add)
            before = sum(len(v) for v in self.tainted_args.values())
            for name, fn in self.funcs.items():
                self._block(fn.regions[0].blocks[0], self._args(name, fn), check=False)
            if sum(len(v) for v in self.tainted_args.values()) == before:
                break
        for name, fn in self.funcs.items():
            self._block(fn.regions[0].blocks[0], self._args(name, fn), check=True)

    def _args(self, name: str, fn: Any) -> set[Any]:
        args = fn.regions[0].blocks[0].arguments
        return {args[i] for i in self.tainted_args[name] if i < len(args)}

    def _block(self, block: Any, tainted: set[Any], check: bool) -> None:
        for op in block.operations:
            op = op.operation
            hit = [i for i, v in enumerate(op.operands) if v in tainted]
            if op.name in _BRANCHES:
                self._branch(op, bool(hit), tainted, check)
            elif op.name == "func.call":
                self.tainted_args[_callee(op)].update(hit)
            elif hit:
                if check:
                    raise ModuleRejected("platforms", f"the module computes with its platform index ({_shown(op.name)}), so "
                                                      "it may compute something else on cuda than on the cpu it was "
                                                      "checked on")
            else:
                for region in op.regions:
                    for inner in region.blocks:
                        self._block(inner, tainted, check)

    def _branch(self, op: Any, on_platform: bool, tainted: set[Any], check: bool) -> None:
        branches = list(op.regions)
        if not on_platform:
            if check:
                raise ModuleRejected("control_flow", f"the module branches on data ({op.name}); a reward traced "
                                                     "with jax.numpy never does, and a branch can hide any cost")
            for region in branches:
                for inner in region.blocks:
                    self._block(inner, tainted, check)
        elif all(self.same.regions(branches[0], other) for other in branches[1:]):
            for inner in branches[0].blocks:  # one branch stands for all; its results do not depend on the platform
                self._block(inner, tainted, check)
        elif all(_only_returns(region) for region in branches):
            tainted.update(op.results)  # a platform-picked value: only another branch's index may use it
        elif check:
            raise ModuleRejected("platforms", "the module's platform branches differ: what it computes on cuda is "
                                              "not what was checked on cpu")


def _only_returns(region: Any) -> bool:
    return all(len(b.operations) == 1 and b.operations[0].operation.name == "stablehlo.return" for b in region.blocks)


class _SameOps:
    """Structural equality of regions: the same operations, attributes and types, and each operand the same
    value (one defined outside) or the counterpart of one (defined inside); called functions compared alike."""

    def __init__(self, funcs: dict[str, Any]) -> None:
        self.funcs = funcs
        self.assumed: set[tuple[str, str]] = set()

    def regions(self, a: Any, b: Any, pairs: dict[Any, Any] | None = None) -> bool:
        pairs = {} if pairs is None else pairs
        if len(a.blocks) != len(b.blocks):
            return False
        for block_a, block_b in zip(a.blocks, b.blocks, strict=True):
            if len(block_a.arguments) != len(block_b.arguments) or len(block_a.operations) != len(block_b.operations):
                return False
            for x, y in zip(block_a.arguments, block_b.arguments, strict=True):
                if x.type != y.type:
                    return False
                pairs[x] = y
            for op_a, op_b in zip(block_a.operations, block_b.operations, strict=True):
                if not self._op(op_a.operation, op_b.operation, pairs):
                    return False
        return True

    def _op(self, a: Any, b: Any, pairs: dict[Any, Any]) -> bool:
        if (a.name != b.name or len(a.operands) != len(b.operands) or len(a.results) != len(b.results)
                or len(a.regions) != len(b.regions)):
            return False
        if any(pairs.get(x, x) != y for x, y in zip(a.operands, b.operands, strict=True)):
            return False
        attrs_a, attrs_b = _attributes(a), _attributes(b)
        if attrs_a.keys() != attrs_b.keys():
            return False
        for key, value in attrs_a.items():
            other = attrs_b[key]
            if value != other and not (key in ("callee", "decomposition") and self._funcs(value, other)):
                return False
        for x, y in zip(a.results, b.results, strict=True):
            if x.type != y.type:
                return False
            pairs[x] = y
        return all(self.regions(ra, rb, pairs) for ra, rb in zip(a.regions, b.regions, strict=True))

    def _funcs(self, ref_a: str, ref_b: str) -> bool:
        a, b = self.funcs.get(ref_a.removeprefix("@")), self.funcs.get(ref_b.removeprefix("@"))
        if a is None or b is None:
            return False
        key = (ref_a, ref_b)
        if key in self.assumed:  # recursion: equal unless something else differs
            return True
        self.assumed.add(key)
        return self.regions(a.regions[0], b.regions[0])


def _attributes(op: Any) -> dict[str, str]:
    attrs = op.attributes
    return {attrs[i].name: str(attrs[i].attr) for i in range(len(attrs))}
