"""What reward code may use: the allow-lists the static check enforces.

Kept apart from the checker so the policy can be read (and reviewed) on its own. numpy re-exports
the operating system (``np.f2py.subprocess``, ``np.ctypeslib.ctypes``, ``np.ma.core.builtins``), so
numpy attributes are an allow-list, not a deny-list.
"""

from __future__ import annotations

ALLOWED_IMPORTS = frozenset({"numpy", "numpy.linalg", "math", "typing"})

NUMPY_ATTRS = frozenset("""
abs absolute add all allclose amax amin any arange arccos arccosh arcsin arcsinh arctan arctan2 arctanh
argmax argmin argsort around array array_equal asarray atleast_1d atleast_2d average bool bool_
broadcast_arrays broadcast_to cbrt ceil clip column_stack concatenate copysign cos cosh count_nonzero
cross cumprod cumsum deg2rad degrees diag diff digitize divide dot dtype e einsum empty empty_like equal
errstate exp exp2 expand_dims expm1 eye fabs finfo float16 float32 float64 floor floor_divide fmax fmin
fmod full full_like gradient greater greater_equal heaviside hstack hypot inf int8 int16 int32 int64
interp isclose isfinite isinf isnan less less_equal linalg linspace log log10 log1p log2 logaddexp
logical_and logical_not logical_or logical_xor matmul max maximum mean median min minimum mod multiply
nan nan_to_num nanmax nanmean nanmin nansum ndarray negative newaxis nonzero not_equal ones ones_like
outer percentile pi positive power prod ptp quantile rad2deg radians ravel reciprocal remainder repeat
reshape rint round select sign signbit sin sinc sinh sort sqrt square squeeze stack std subtract sum
swapaxes take tan tanh tensordot tile trace transpose tril triu trunc uint8 unwrap var vstack where
zeros zeros_like
""".split())

NUMPY_LINALG_ATTRS = frozenset({"norm", "det", "inv", "pinv", "solve", "eigh", "eigvalsh", "cond", "matrix_rank"})

MATH_ATTRS = frozenset("""
acos acosh asin asinh atan atan2 atanh ceil comb copysign cos cosh degrees dist e erf erfc exp expm1 fabs
factorial floor fmod fsum gamma hypot inf isclose isfinite isinf isnan lgamma log log10 log1p log2 nan
perm pi pow prod radians remainder sin sinh sqrt tan tanh tau trunc
""".split())

TYPING_NAMES = frozenset({"Any", "Dict", "List", "Mapping", "Optional", "Sequence", "Tuple", "Union"})

# Attributes that are refused on *any* receiver (arrays, state, dtypes, ...): file I/O, raw memory,
# frame/generator/traceback introspection, string-format attribute walks, and numpy's OS re-exports.
DENIED_ATTRS = frozenset("""
base builtins byteswap core ctypes ctypeslib cr_frame ag_frame data dump dumps f2py f_back f_builtins
f_code f_globals f_locals fileno flags format format_map fromfile func_globals gi_code gi_frame
gi_yieldfrom lib load loads memmap mro os resize save savetxt savez savez_compressed setflags
subprocess sys tb_frame tb_next testing tofile tobytes view
""".split())

# In-place ndarray methods: calling them on an argument would mutate the caller's state.
INPLACE_METHODS = frozenset({"fill", "sort", "put", "itemset", "partition", "setfield", "resize"})
INPLACE_NUMPY_FUNCS = frozenset({"copyto", "put", "place", "putmask", "fill_diagonal"})

SAFE_BUILTINS = frozenset("""
abs all any bool dict enumerate filter float int isinstance len list map max min pow print range
reversed round set sorted str sum tuple zip ValueError TypeError ZeroDivisionError ArithmeticError
Exception True False None
""".split())

MAX_SOURCE_CHARS = 20_000
MAX_AST_NODES = 5_000
MAX_COMPONENTS = 16
