"""The static check: rules the corpus does not pin down, messages, limits and the allow-lists themselves."""

from __future__ import annotations

import math

import numpy as np

from sandboxes import policy
from sandboxes.static import check_source

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
    long = GOOD + "#" + "x" * policy.MAX_SOURCE_CHARS
    assert "the limit is" in check_source(long).message()
    many = "import numpy as np\nX = (" + "1, " * policy.MAX_AST_NODES + ")\n" + GOOD
    assert len(many) < policy.MAX_SOURCE_CHARS
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
    assert [n for n in policy.NUMPY_ATTRS if not hasattr(np, n)] == []
    assert [n for n in policy.NUMPY_LINALG_ATTRS if not hasattr(np.linalg, n)] == []
    assert [n for n in policy.MATH_ATTRS if not hasattr(math, n)] == []


def test_no_allow_listed_numpy_name_is_a_module_or_file_function() -> None:
    import types

    modules = {n for n in policy.NUMPY_ATTRS if isinstance(getattr(np, n), types.ModuleType)}
    assert modules == {"linalg"}
    assert not policy.NUMPY_ATTRS & {"save", "load", "loadtxt", "genfromtxt", "fromfile", "memmap", "frombuffer",
                                     "ctypeslib", "f2py", "ma", "lib", "testing", "random", "seterr", "copyto"}
