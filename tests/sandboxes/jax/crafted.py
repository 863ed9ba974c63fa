"""Crafted reward modules, written as StableHLO text here: what a hostile export sandbox could hand over.

:func:`module_bytes` wraps a hand-written body in ``main`` for :data:`SPEC` (platform index, ``height``,
``joint_vel``, ``action``; the four outputs ``total, calm, effort, height``) and serializes it the way
``jax.export`` does, under the metadata of an honest export of the same schema: the checker sees exactly
the bytes a sandbox could send, and none of it went through JAX's own export-time checks.
"""

from __future__ import annotations

import dataclasses
from functools import cache

from rewardsmith.core.state import ActionSpec, StateField, StateSpec

SPEC = StateSpec(
    fields=(StateField(name="height", shape=(), unit="m", doc="torso height", low=0.0, high=2.0),
            StateField(name="joint_vel", shape=(3,), unit="rad/s", doc="joint velocities")),
    action=ActionSpec(dim=2, doc="torques", low=-1.0, high=1.0),
)
COMPONENTS = ["height", "calm", "effort"]

_MAIN = """func.func public @main(%platform: tensor<i32>, %h: tensor<?xf32>, %v: tensor<?x3xf32>, %a: tensor<?x2xf32>)
    -> (tensor<?xf32>, tensor<?xf32>, tensor<?xf32>, tensor<?xf32>) {{
{body}
  return {result}, {result}, {result}, {result} : tensor<?xf32>, tensor<?xf32>, tensor<?xf32>, tensor<?xf32>
}}
{functions}
"""


@cache
def _honest():  # the metadata (trees, shapes, platforms) of an honest export of SPEC's schema
    import jax
    import jax.numpy as jnp
    from jax import export

    (b,) = export.symbolic_shape("b")
    f32 = jnp.float32

    def plain(params, state, action):
        h = jnp.tanh(state["height"])
        return h, {"height": h, "calm": -state["joint_vel"].sum(axis=1), "effort": -action.sum(axis=1)}

    state = {"height": jax.ShapeDtypeStruct((b,), f32), "joint_vel": jax.ShapeDtypeStruct((b, 3), f32)}
    return export.export(jax.jit(plain), platforms=("cpu", "cuda"))({}, state, jax.ShapeDtypeStruct((b, 2), f32))


def module_bytes(body: str, result: str = "%h", functions: str = "") -> bytes:
    """Serialized ``Exported`` whose ``main`` runs ``body`` and returns ``result`` (a ``tensor<?xf32>``) four times."""
    from jax._src.export._export import _module_to_bytecode
    from jax._src.interpreters import mlir
    from jax._src.lib.mlir import ir

    text = _MAIN.format(body=body, result=result, functions=functions)
    with mlir.make_ir_context():
        blob = _module_to_bytecode(ir.Module.parse(text))
    return bytes(dataclasses.replace(_honest(), mlir_module_serialized=blob).serialize())


def counted_loop(trips: int, step: int = 1, tag: str = "", over: str = "%h", body: str = "") -> str:
    """``x = over; for i in range(0, trips, step): x = sin(x)`` (or ``body``, which makes ``%{tag}x2`` from
    ``%{tag}x``) in JAX's counted-loop shape; the result is ``%{tag}r#1``."""
    x = f"%{tag}x"
    body = body or f"{x}2 = stablehlo.sine {x} : tensor<?xf32>"
    return f"""
  %{tag}c0 = stablehlo.constant dense<0> : tensor<i32>
  %{tag}step = stablehlo.constant dense<{step}> : tensor<i32>
  %{tag}n = stablehlo.constant dense<{trips}> : tensor<i32>
  %{tag}r:2 = stablehlo.while(%{tag}i = %{tag}c0, {x} = {over}) : tensor<i32>, tensor<?xf32>
   cond {{
    %{tag}go = stablehlo.compare LT, %{tag}i, %{tag}n, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %{tag}go : tensor<i1>
   }} do {{
    %{tag}i2 = stablehlo.add %{tag}i, %{tag}step : tensor<i32>
    {body}
    stablehlo.return %{tag}i2, {x}2 : tensor<i32>, tensor<?xf32>
   }}"""


def nested_loops(outer: int, inner: int) -> str:
    """An outer counted loop around an inner one: ``outer × inner`` sines per row; the result is ``%or#1``."""
    return counted_loop(outer, tag="o", body=counted_loop(inner, tag="i", over="%ox")
                        + "\n    %ox2 = stablehlo.add %ir#1, %ox : tensor<?xf32>")


def plus(scalar: str) -> str:
    """``%r = height + scalar`` (a ``tensor<f32>``): serialization drops what no output uses, so a crafted
    part must reach one."""
    return f"""
  %rn = stablehlo.get_dimension_size %h, dim = 0 : (tensor<?xf32>) -> tensor<i32>
  %rn1 = stablehlo.reshape %rn : (tensor<i32>) -> tensor<1xi32>
  %rb = stablehlo.dynamic_broadcast_in_dim {scalar}, %rn1, dims = [] : (tensor<f32>, tensor<1xi32>) -> tensor<?xf32>
  %r = stablehlo.add %h, %rb : tensor<?xf32>"""


FIRST_HEIGHT = """
  %h0 = stablehlo.slice %h [0:1] : (tensor<?xf32>) -> tensor<1xf32>
  %first = stablehlo.reshape %h0 : (tensor<1xf32>) -> tensor<f32>"""

LOOP_UNTIL_DATA = FIRST_HEIGHT + """
  %zero = stablehlo.constant dense<0.0> : tensor<f32>
  %one = stablehlo.constant dense<1.0> : tensor<f32>
  %k = stablehlo.while(%t = %zero) : tensor<f32>
   cond {
    %go = stablehlo.compare LT, %t, %first, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
    stablehlo.return %go : tensor<i1>
   } do {
    %t2 = stablehlo.add %t, %one : tensor<f32>
    stablehlo.return %t2 : tensor<f32>
   }""" + plus("%k")
"""Counts up to the first row's height: a few steps on the probe's states, never done past 2**24 (float32)."""

LOOP_TO_DATA_BOUND = FIRST_HEIGHT + """
  %end = stablehlo.convert %first : (tensor<f32>) -> tensor<i32>
  %c0 = stablehlo.constant dense<0> : tensor<i32>
  %c1 = stablehlo.constant dense<1> : tensor<i32>
  %k = stablehlo.while(%i = %c0) : tensor<i32>
   cond {
    %go = stablehlo.compare LT, %i, %end, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %go : tensor<i1>
   } do {
    %i2 = stablehlo.add %i, %c1 : tensor<i32>
    stablehlo.return %i2 : tensor<i32>
   }
  %kf = stablehlo.convert %k : (tensor<i32>) -> tensor<f32>""" + plus("%kf")
"""A counted loop whose bound is read from the state."""

BRANCH_ON_DATA = FIRST_HEIGHT + """
  %zero = stablehlo.constant dense<0.0> : tensor<f32>
  %up = stablehlo.compare GT, %first, %zero, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
  %which = stablehlo.convert %up : (tensor<i1>) -> tensor<i32>
  %r = "stablehlo.case"(%which) ({
    stablehlo.return %h : tensor<?xf32>
  }, {
    %d = stablehlo.add %h, %h : tensor<?xf32>
    stablehlo.return %d : tensor<?xf32>
  }) : (tensor<i32>) -> tensor<?xf32>"""


def on_platform(cpu: str, cuda: str, index: str = "%platform") -> str:
    """A ``case`` on the platform index (cpu = 0, cuda = 1) whose branches compute ``%d`` as given; result ``%r``."""
    return f"""
  %r = "stablehlo.case"({index}) ({{
    {cpu}
    stablehlo.return %d : tensor<?xf32>
  }}, {{
    {cuda}
    stablehlo.return %d : tensor<?xf32>
  }}) : (tensor<i32>) -> tensor<?xf32>"""


DOUBLE = "%d = stablehlo.add %h, %h : tensor<?xf32>"
SAME = "%d = stablehlo.multiply %h, %h : tensor<?xf32>"
PLATFORM_PICKS_INDEX = """
  %c0 = stablehlo.constant dense<0> : tensor<i32>
  %c1 = stablehlo.constant dense<1> : tensor<i32>
  %index = "stablehlo.case"(%platform) ({
    stablehlo.return %c1 : tensor<i32>
  }, {
    stablehlo.return %c0 : tensor<i32>
  }) : (tensor<i32>) -> tensor<i32>"""
"""How JAX lowers a rule registered per platform (``cumsum``): the platform's index picks a branch index."""

PLATFORM_AS_NUMBER = """
  %pf = stablehlo.convert %platform : (tensor<i32>) -> tensor<f32>
  %n = stablehlo.get_dimension_size %h, dim = 0 : (tensor<?xf32>) -> tensor<i32>
  %n1 = stablehlo.reshape %n : (tensor<i32>) -> tensor<1xi32>
  %pb = stablehlo.dynamic_broadcast_in_dim %pf, %n1, dims = [] : (tensor<f32>, tensor<1xi32>) -> tensor<?xf32>
  %r = stablehlo.add %h, %pb : tensor<?xf32>"""
"""+1 on cuda: the platform index used as a number."""

PLATFORM_IN_HELPER = "  %r = func.call @helper(%platform, %h) : (tensor<i32>, tensor<?xf32>) -> tensor<?xf32>"
HELPER = """func.func private @helper(%p: tensor<i32>, %h: tensor<?xf32>) -> tensor<?xf32> {
""" + on_platform(SAME, DOUBLE, "%p") + """
  return %r : tensor<?xf32>
}"""

RANDOM = """
  %lo = stablehlo.constant dense<0.0> : tensor<f32>
  %hi = stablehlo.constant dense<1.0> : tensor<f32>
  %shape = stablehlo.constant dense<> : tensor<0xi64>
  %u = "stablehlo.rng"(%lo, %hi, %shape) {rng_distribution = #stablehlo<rng_distribution UNIFORM>} : (tensor<f32>, tensor<f32>, tensor<0xi64>) -> tensor<f32>""" + plus("%u")


def composite(name: str) -> tuple[str, str]:
    """A ``stablehlo.composite`` called ``name`` whose decomposition is ``2 * x``: (body with result ``%r``, function)."""
    body = f'  %r = stablehlo.composite "{name}" %h {{decomposition = @impl, version = 1 : i32}} : (tensor<?xf32>) -> tensor<?xf32>'
    impl = """func.func private @impl(%x: tensor<?xf32>) -> tensor<?xf32> {
  %d = stablehlo.add %x, %x : tensor<?xf32>
  return %d : tensor<?xf32>
}"""
    return body, impl


WIDE_ROWS = """
  %n = stablehlo.get_dimension_size %h, dim = 0 : (tensor<?xf32>) -> tensor<i32>
  %n1 = stablehlo.reshape %n : (tensor<i32>) -> tensor<1xi32>
  %m = stablehlo.constant dense<{width}> : tensor<1xi32>
  %shape = stablehlo.concatenate %n1, %m, dim = 0 : (tensor<1xi32>, tensor<1xi32>) -> tensor<2xi32>
  %big = stablehlo.dynamic_broadcast_in_dim %h, %shape, dims = [0] : (tensor<?xf32>, tensor<2xi32>) -> tensor<?x{width}xf32>
  %zero = stablehlo.constant dense<0.0> : tensor<f32>
  %cum = "stablehlo.reduce_window"(%big, %zero) <{{padding = dense<[[0, 0], [{pad}, 0]]> : tensor<2x2xi64>, window_dimensions = array<i64: 1, {width}>}}> ({{
  ^bb0(%x: tensor<f32>, %y: tensor<f32>):
    %s = stablehlo.add %x, %y : tensor<f32>
    stablehlo.return %s : tensor<f32>
  }}) : (tensor<?x{width}xf32>, tensor<f32>) -> tensor<?x{width}xf32>
  %back = "stablehlo.reverse"(%cum) <{{dimensions = array<i64: 1>}}> : (tensor<?x{width}xf32>) -> tensor<?x{width}xf32>
  %r = stablehlo.reduce(%back init: %zero) applies stablehlo.maximum across dimensions = [1] : (tensor<?x{width}xf32>, tensor<f32>) -> tensor<?xf32>"""


def wide_rows(width: int) -> str:
    """Each row's height broadcast to ``width`` values and summed cumulatively (kept in memory); result ``%r``:
    ``4 × width`` bytes per row, twice."""
    return WIDE_ROWS.format(width=width, pad=width - 1)


BIG_CONSTANT = """
  %table = stablehlo.constant dense<0.5> : tensor<1000x1000xf32>
  %zero = stablehlo.constant dense<0.0> : tensor<f32>
  %sum = stablehlo.reduce(%table init: %zero) applies stablehlo.add across dimensions = [0, 1] : (tensor<1000x1000xf32>, tensor<f32>) -> tensor<f32>""" + plus("%sum")
HOSTILE = "\\1B]52;c;aGk=\\07\\1B[2J \\E2\\80\\AE gotcha"
"""ESC + OSC 52 (write the clipboard), a screen clear and U+202E, as MLIR string escapes."""


def assert_batch_below(limit: int) -> str:
    """A shape assertion that fails once the batch reaches ``limit``, with a hostile error message."""
    return f"""
  %n = stablehlo.get_dimension_size %h, dim = 0 : (tensor<?xf32>) -> tensor<i32>
  %lim = stablehlo.constant dense<{limit}> : tensor<i32>
  %ok = stablehlo.compare LT, %n, %lim, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>
  stablehlo.custom_call @shape_assertion(%ok, %n) {{api_version = 2 : i32, error_message = "batch {{0}} {HOSTILE}", has_side_effect = true}} : (tensor<i1>, tensor<i32>) -> ()"""
