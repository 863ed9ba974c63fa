"""The static check: rules the corpus does not pin down, messages, limits and the allow-lists themselves."""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import numpy as np
import pytest

from rewardsmith.sandboxes import allowlist
from rewardsmith.sandboxes.static import check_source

GOOD = """import numpy as np

def compute_reward(state, action):
    r = np.cos(state.pole_angle)
    return r, {"r": r}
"""


def test_good_code_passes_quickly() -> None:
    report = check_source(GOOD)
    assert report.ok and not report.warnings


def test_messages_carry_line_numbers_and_are_sorted() -> None:
    src = GOOD + "\ndef helper(x):\n    return open(x)\n\nimport os\n"
    report = check_source(src)
    lines = [e.line for e in report.errors]
    assert lines == sorted(lines) and 8 in lines and 10 in lines
    assert report.message().splitlines()[0].startswith("line 8: ")


def test_size_caps() -> None:
    long = GOOD + "#" + "x" * allowlist.MAX_SOURCE_CHARS
    assert "the limit is" in check_source(long).message()
    many = "import numpy as np\nX = (" + "1, " * allowlist.MAX_AST_NODES + ")\n" + GOOD
    assert len(many) < allowlist.MAX_SOURCE_CHARS
    assert "syntax nodes" in check_source(many).message()


def test_pathological_nesting_is_rejected_not_crashing() -> None:
    deep = "import numpy as np\nX = " + "-" * 15_000 + "1\n"
    report = check_source(deep)
    assert not report.ok
    parens = "X = " + "(" * 500 + "1" + ")" * 500 + "\n"
    assert not check_source(parens).ok


def test_invisible_characters_are_rejected() -> None:
    report = check_source(GOOD.replace("r = np.cos", "r\u200b = np.cos"))
    assert "U+200B" in report.message()


def test_a_rebound_parameter_may_be_written() -> None:
    src = GOOD + "\ndef clipped(v):\n    v = np.copy(v)\n    v[v > 1] = 1\n    return v\n"
    assert check_source(src).ok


def test_writes_into_a_helper_parameter_are_rejected() -> None:
    src = GOOD + "\ndef clip_inplace(v):\n    v[v > 1] = 1\n    return v\n"
    assert "writing into the argument 'v'" in check_source(src).message()


def test_index_expressions_are_not_mistaken_for_writes_into_numpy() -> None:
    src = GOOD + "\ndef f(v):\n    out = np.zeros(3)\n    out[np.argmax(v)] = 1.0\n    return out\n"
    assert check_source(src).ok


def test_submodule_alias_cannot_be_stored() -> None:
    assert not check_source(GOOD + "\nLA = np.linalg\n").ok
    assert check_source("from numpy import linalg as la\n" + GOOD + "\ndef n(x):\n    return la.norm(x)\n").ok


def test_ufunc_at_on_an_argument_is_rejected() -> None:
    src = GOOD.replace("r = np.cos", "np.add.at(state.pole_angle, [0], 1.0)\n    r = np.cos")
    assert "in place" in check_source(src).message()


def test_print_is_a_warning_not_an_error() -> None:
    report = check_source(GOOD.replace("    return", "    print(r)\n    return"))
    assert report.ok and "discarded" in str(report.warnings[0])


def test_every_allow_listed_name_exists() -> None:
    """A numpy or Python upgrade that drops a name shows up here, not as a confusing probe failure."""
    assert [n for n in allowlist.NUMPY_ATTRS if not hasattr(np, n)] == []
    assert [n for n in allowlist.NUMPY_LINALG_ATTRS if not hasattr(np.linalg, n)] == []
    assert [n for n in allowlist.MATH_ATTRS if not hasattr(math, n)] == []


def test_no_allow_listed_numpy_name_is_a_module_or_file_function() -> None:
    import types

    modules = {n for n in allowlist.NUMPY_ATTRS if isinstance(getattr(np, n), types.ModuleType)}
    assert modules == {"linalg"}
    assert not allowlist.NUMPY_ATTRS & {"save", "load", "loadtxt", "genfromtxt", "fromfile", "memmap", "frombuffer",
                                     "ctypeslib", "f2py", "ma", "lib", "testing", "random", "seterr", "copyto"}


# -- numpy memory reinterpretation (issue 15): closed as a class -------------------------------------

CORPUS = Path(__file__).parent / "corpus"


def _dtype_positions(fn: object, skip_self: bool) -> int | None:
    try:
        params = list(inspect.signature(fn).parameters.values())  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if skip_self and params and params[0].name == "self":
        params = params[1:]
    for i, p in enumerate(params):
        if p.name == "dtype" and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            return i
    return None


def test_every_positional_dtype_parameter_is_known() -> None:
    """The checker looks for a dtype at these positions; re-derived from numpy so an upgrade cannot add one unseen."""
    derived = {n: i for n in allowlist.NUMPY_ATTRS if (i := _dtype_positions(getattr(np, n, None), False)) is not None}
    derived |= {n: i for n in allowlist.NUMPY_LINALG_ATTRS if (i := _dtype_positions(getattr(np.linalg, n), False)) is not None}
    assert derived == {k: v for k, v in allowlist.DTYPE_ARG_POSITIONS.items() if k != "iinfo"}
    methods = {n: i for n in dir(np.ndarray) if not n.startswith("_") and n not in allowlist.DENIED_ATTRS
               if (i := _dtype_positions(getattr(np.ndarray, n), True)) is not None}
    ufunc_methods = {"reduce": 2, "accumulate": 2, "reduceat": 3}  # C signatures without introspection
    assert methods | ufunc_methods == allowlist.DTYPE_METHOD_POSITIONS


def test_every_ndarray_attribute_was_reviewed() -> None:
    """Each public ndarray attribute is either denied (it views raw memory, does I/O or writes in place) or in
    this reviewed list of pure ones; a numpy upgrade that adds one fails here until someone looks at it."""
    pure = set("""T all any argmax argmin argpartition argsort astype choose clip compress conj conjugate copy
    cumprod cumsum diagonal dot dtype fill flat flatten imag item itemsize mT max mean min nbytes ndim
    nonzero partition prod put ravel real repeat reshape round searchsorted shape size sort squeeze std
    sum swapaxes take tolist trace transpose var""".split())
    public = {n for n in dir(np.ndarray) if not n.startswith("_")}
    assert public - allowlist.DENIED_ATTRS - allowlist.BACKEND_ATTRS == pure
    assert {"view", "getfield", "setfield", "ctypes", "data", "base", "tobytes", "setflags"} <= allowlist.DENIED_ATTRS


def test_no_allow_listed_numpy_name_reinterprets_memory() -> None:
    raw = {"frombuffer", "fromstring", "fromfile", "fromiter", "frompyfunc", "vectorize", "memmap", "load", "lib",
           "ctypeslib", "rec", "char", "strings", "record", "void", "object_", "recarray", "asarray_chkfinite",
           "require", "apply_along_axis", "piecewise", "dtypes", "emath", "ma", "testing", "f2py"}
    assert not raw & allowlist.NUMPY_ATTRS
    assert allowlist.TYPE_ONLY_NUMPY <= allowlist.NUMPY_ATTRS
    assert all(np.dtype(getattr(np, n)).kind in allowlist.DTYPE_KINDS for n in allowlist.NUMERIC_DTYPES)


def test_the_object_buffer_escape_uses_only_allow_listed_names() -> None:
    """It got through before (a name allow-list cannot see it); now the only findings are the class fix's."""
    report = check_source((CORPUS / "numpy_object_buffer_reaches_os.py").read_text())
    assert not report.ok
    assert all("np.ndarray may only be used as a type" in e.message or "'O' is the object dtype" in e.message
               for e in report.errors), report.message()


@pytest.mark.parametrize("code", [
    "np.ndarray((1,), np.int64, state.pole_angle)", "np.ndarray(shape=(2,))", "np.ndarray", "[np.ndarray][0]",
    "np.zeros(3, 'O')", "np.zeros(3, dtype=object)", "np.zeros(3, dtype=dict)", "np.array(x, 'V16')",
    "np.asarray(x, 'U8')", "np.zeros(3, 'S4')", "np.zeros(3, 'c16')", "np.zeros(3, 'M8')",
    "np.zeros(3, ('f8', 2))", "np.zeros(3, {'names': ['a'], 'formats': ['f8']})", "x.astype(tuple)",
    "x.astype(np.dtype)", "x.sum(0, 'O')", "x.trace(0, 0, 1, 'O')", "np.add.accumulate(x, 0, 'O')",
    "np.multiply.reduceat(x, [0], 0, 'O')", "np.linspace(0, 1, 5, True, False, 'O')", "np.dtype(list)",
    "np.full(3, 0, dtype=x.dtype.type)", "np.ones(3, dtype=('f8' if x.size else 'O'))", "np.dtype",
    "x.getfield(np.int64, 0)", "x.view(np.int64)", "np.frombuffer(x)", "x.data", "x.base", "x.ctypes",
    "np.zeros(*(3, 'O'))", "np.sin(x, **{'dtype': 'O'})", "np.cos(x, sig='O->O')", "np.zeros_like",
    "x.astype", "np.add.reduce",
])
def test_memory_reinterpretation_is_refused(code: str) -> None:
    src = f"import numpy as np\n\ndef compute_reward(state, action):\n    x = np.cos(state.pole_angle)\n    y = {code}\n    return x, {{}}\n"
    report = check_source(src)
    assert not report.ok, code
    assert all(e.line == 5 for e in report.errors), report.message()


@pytest.mark.parametrize("code", [
    "x.astype(np.float32)", "x.astype('float32')", "x.astype(float)", "np.zeros(3, bool)", "np.zeros(3, 'i8')",
    "np.asarray(x, dtype=None)", "np.zeros_like(x, dtype=x.dtype)", "np.sum(x, 0, np.float64)",
    "np.dtype('float64').itemsize", "isinstance(x, np.ndarray)", "isinstance(x, (np.ndarray, np.dtype, float))",
    "np.finfo(np.float32).max", "np.iinfo('int32').max", "x.reshape(*x.shape)", "max(*[1.0, 2.0])",
])
def test_plain_dtypes_stay_allowed(code: str) -> None:
    src = (f"import numpy as np\n\ndef compute_reward(state, action) -> tuple[np.ndarray, dict]:\n"
           f"    x: np.ndarray = np.cos(state.pole_angle)\n    y = {code}\n    return x, {{}}\n")
    report = check_source(src)
    assert report.ok, report.message()


def test_dtype_messages_say_what_to_write_instead() -> None:
    report = check_source("import numpy as np\n\ndef compute_reward(state, action):\n"
                          "    x = state.pole_angle.astype('O')\n    return x, {}\n")
    message = report.message()
    assert message.startswith("line 4: 'O' is the object dtype, which is not allowed")
    assert "np.float64" in message and "'float32'" in message and "x.dtype" in message


def test_helpers_with_one_leading_underscore_are_ordinary_style() -> None:
    src = ("import numpy as np\n\n"
           "def _uprightness(angle):\n    return np.cos(angle)\n\n"
           "def compute_reward(state, action):\n    r = _uprightness(state.pole_angle)\n    return r, {'r': r}\n")
    assert check_source(src).ok


@pytest.mark.parametrize("src, message", [
    ("def __init__(x):\n    return x\n", "dunder names are not allowed ('__init__')"),
    ("def f(x):\n    return x._data\n", "attributes starting with '_' are not allowed ('_data')"),
    ("def f(x):\n    return __builtins__\n", "dunder names are not allowed ('__builtins__')"),
])
def test_dunder_names_and_underscore_attributes_stay_refused(src: str, message: str) -> None:
    report = check_source(GOOD + "\n" + src)
    assert not report.ok and message in str(report)


@pytest.mark.parametrize("expr", ["state.pole_angle.device", "np.asarray(state.pole_angle).devices()",
                                  "W.traceback", "state.pole_angle.aval", "state.pole_angle.val",
                                  "state.pole_angle.strides", "W.sharding.device_set", "W.device.client"])
def test_attributes_that_tell_the_backends_apart_are_refused(expr: str) -> None:
    # On the jax backend ``W`` is a JAX array (its ``.device.client`` is the XLA client, its ``.traceback`` shows
    # host paths) and ``state.*`` are tracers: code that looks can compute differently there than it was probed.
    src = f"import numpy as np\nW = np.array([1.0])\n\ndef compute_reward(state, action):\n    x = {expr}\n" \
          "    r = np.cos(state.pole_angle)\n    return r, {'r': r}\n"
    report = check_source(src)
    assert not report.ok and "tells the numpy and jax backends apart" in report.message(), report.message()
