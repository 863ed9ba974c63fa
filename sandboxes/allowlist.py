"""What reward code may use: the allow-lists the static check enforces.

Kept apart from the checker so the policy can be read (and reviewed) on its own. numpy re-exports
the operating system (``np.f2py.subprocess``, ``np.ctypeslib.ctypes``, ``np.ma.core.builtins``), so
numpy attributes are an allow-list, not a deny-list.

numpy can also reinterpret memory: ``np.ndarray(shape, dtype, buffer, offset, strides)`` lays any dtype
over any buffer (``dtype="O"`` over an int array forges object pointers, a negative ``offset`` reads
outside the buffer), and object/void/structured dtypes turn bytes and pointers into each other. So the
array constructor is usable only as a type (``isinstance``, annotations), every dtype a reward passes
must be a plain, written-out real number type (:data:`DTYPE_ARG_POSITIONS`, :data:`DTYPE_METHOD_POSITIONS`
say where numpy takes one), and everything that views raw memory (``view``, ``getfield``, ``ctypes``,
``data``, ``base``, ``np.lib``, ``frombuffer``) is refused; the worker refuses any result that is not
a bool/int/float array.
"""

from __future__ import annotations

ALLOWED_IMPORTS = frozenset({"numpy", "numpy.linalg", "math", "typing"})

NUMPY_ATTRS = frozenset("""
abs absolute acos acosh add all allclose amax amin any append arange arccos arccosh arcsin arcsinh arctan
arctan2 arctanh argmax argmin argsort argwhere around array array_equal asarray asin asinh atan atan2 atanh
atleast_1d atleast_2d atleast_3d average bincount bool bool_ broadcast_arrays broadcast_to cbrt ceil clip
column_stack concat concatenate convolve copy copysign cos cosh count_nonzero cross cumprod cumsum deg2rad
degrees diag diff digitize divide dot dstack dtype e einsum empty empty_like equal errstate euler_gamma exp
exp2 expand_dims expm1 eye fabs finfo fix flatnonzero flip float16 float32 float64 floating floor
floor_divide fmax fmin fmod full full_like geomspace gradient greater greater_equal heaviside hstack hypot
iinfo inf inner int8 int16 int32 int64 integer interp isclose isfinite isin isinf isnan isscalar kron less
less_equal linalg linspace log log10 log1p log2 logaddexp logaddexp2 logical_and logical_not logical_or
logical_xor logspace matmul max maximum mean median meshgrid min minimum mod moveaxis multiply nan
nan_to_num nanargmax nanargmin nanmax nanmean nanmedian nanmin nanprod nanstd nansum nanvar ndarray ndim
negative newaxis nonzero not_equal number ones ones_like outer percentile pi polyval positive pow power
prod ptp quantile rad2deg radians ravel reciprocal remainder repeat reshape rint roll round searchsorted
select shape sign signbit sin sinc sinh size sort split sqrt square squeeze stack std subtract sum swapaxes
take take_along_axis tan tanh tensordot tile trace transpose trapezoid tril triu trunc uint8 unique unwrap
var vdot vstack where zeros zeros_like
""".split())
"""Pure computations on arrays. Deliberately absent: file I/O (save/load/loadtxt/genfromtxt/fromfile/
memmap/DataSource), raw memory (frombuffer/fromstring/ctypeslib/lib.stride_tricks/as_strided), Python
callables over arrays (frompyfunc/vectorize/apply_along_axis: object arrays), sub-packages that re-export
the OS (f2py, ma, lib, testing, distutils, char, rec, strings), global state (seterr/set_printoptions/
random) and in-place writers (copyto/put/place/putmask/fill_diagonal/put_along_axis). ``ndarray`` and
``dtype`` are on the list as *types* only: see :data:`TYPE_ONLY_NUMPY`."""

TYPE_ONLY_NUMPY = frozenset({"ndarray", "dtype"})
"""Usable in ``isinstance(x, np.ndarray)`` and annotations only; ``np.dtype`` may also be called with a
plain numeric dtype. ``np.ndarray(...)`` itself takes a raw buffer, an offset and strides."""

NUMERIC_DTYPES = frozenset({"bool", "bool_", "float16", "float32", "float64", "int8", "int16", "int32", "int64",
                            "uint8"})
"""numpy attributes that may be given as a dtype (besides ``float``, ``int``, ``bool``, a string such as
``"float32"`` and ``x.dtype``)."""
BUILTIN_DTYPES = frozenset({"bool", "float", "int"})
DTYPE_KINDS = "biuf"
"""numpy kind codes of the dtypes reward code may name and return: bool, signed, unsigned, float."""

DTYPE_ARG_POSITIONS: dict[str, int] = {
    "array": 1, "asarray": 1, "cumprod": 2, "cumsum": 2, "dtype": 0, "empty": 1, "empty_like": 1, "eye": 3,
    "finfo": 0, "full": 2, "full_like": 2, "geomspace": 4, "iinfo": 0, "linspace": 5, "logspace": 5,
    "mean": 2, "nanmean": 2, "nanprod": 2, "nanstd": 2, "nansum": 2, "nanvar": 2, "ndarray": 1, "ones": 1,
    "ones_like": 1, "prod": 2, "std": 2, "sum": 2, "trace": 4, "var": 2, "zeros": 1, "zeros_like": 1,
}
"""Allow-listed numpy functions whose dtype parameter can be given positionally, and its index
(``np.zeros(3, "O")``). ``tests/sandboxes/test_static.py`` re-derives this from numpy's signatures."""
DTYPE_METHOD_POSITIONS: dict[str, int] = {
    "astype": 0, "cumprod": 1, "cumsum": 1, "mean": 1, "prod": 1, "std": 1, "sum": 1, "trace": 3, "var": 1,
    "reduce": 2, "accumulate": 2, "reduceat": 3,
}
"""The same for ndarray methods (``x.sum(0, "O")``) and ufunc methods (``np.add.reduce(x, 0, "O")``)."""
RAW_MEMORY_KEYWORDS = frozenset({"buffer", "offset", "strides"})
DTYPE_KEYWORDS = frozenset({"dtype"})
REFUSED_KEYWORDS = frozenset({"signature", "sig"})
"""ufunc loop selection by type codes (``signature="OO->O"``): a dtype spec in another form."""

NUMPY_LINALG_ATTRS = frozenset("""
cholesky cond det eig eigh eigvals eigvalsh inv lstsq matrix_norm matrix_power matrix_rank multi_dot norm
pinv qr slogdet solve svd vector_norm
""".split())

JAX_LAPACK_LINALG = frozenset("""
cholesky cond eig eigh eigvals eigvalsh inv lstsq matrix_rank pinv qr solve svd
""".split())
"""``np.linalg`` functions the jax backend cannot take: jax.numpy computes them with LAPACK (cuSOLVER on a
GPU), a custom call that a compiled reward may not make (:mod:`sandboxes.jax.module_rules`)."""
JAX_LINALG_RULE = ("np.linalg solvers and decompositions (" + ", ".join(sorted(JAX_LAPACK_LINALG)) + ") need "
                   "LAPACK, which a compiled reward cannot call; the jax backend has np.linalg.norm, vector_norm, "
                   "matrix_norm, multi_dot, matrix_power (powers >= 0), and det and slogdet of 2×2 and 3×3 matrices")
"""What the jax backend's prompt rule and its validation errors say about ``np.linalg``."""

MATH_ATTRS = frozenset("""
acos acosh asin asinh atan atan2 atanh cbrt ceil comb copysign cos cosh degrees dist e erf erfc exp exp2
expm1 fabs factorial floor fmod frexp fsum gamma gcd hypot inf isclose isfinite isinf isnan isqrt lcm
ldexp lgamma log log10 log1p log2 modf nan nextafter perm pi pow prod radians remainder sin sinh sqrt tan
tanh tau trunc ulp
""".split())

TYPING_NAMES = frozenset({"Any", "Dict", "List", "Mapping", "Optional", "Sequence", "Tuple", "Union"})

# Attributes that are refused on *any* receiver (arrays, state, dtypes, ...): file I/O, raw memory,
# frame/generator/traceback introspection, string-format attribute walks, and numpy's OS re-exports.
DENIED_ATTRS = frozenset("""
ag_code ag_frame as_strided base builtins byteswap core cr_code cr_frame ctypes ctypeslib data DataSource
dump dumps f2py f_back f_builtins f_code f_globals f_locals f_trace fileno flags format format_map frombuffer
fromfile fromiter frompyfunc fromregex fromstring func_globals genfromtxt getfield gi_code gi_frame
gi_yieldfrom itemset lib load loads loadtxt memmap mro newbyteorder os resize save savetxt savez
savez_compressed setfield setflags stride_tricks subprocess sys tb_frame tb_next testing tobytes tofile
vectorize view
""".split())

BACKEND_ATTRS = frozenset("""
addressable_data addressable_shards aval aval_mutable_qdd batch_dim block_until_ready client clone committed
copy_to_host_async cur_qdd delete device device_buffer device_buffers devices dimension_as_value full_lower
get_const get_referent global_shards is_deleted is_fully_addressable is_fully_replicated is_ready mutable_qdd
on_device_size_in_bytes parent platform primal sharding source_info strides tangent to_concrete_value to_device
traceback unsafe_buffer_pointer val weak_type
""".split())
"""Attributes refused on any receiver because they tell the backends apart: on the jax backend a reward's
arrays are JAX tracers (``x.aval``, ``x.val``: the whole batch behind one row) and its constants JAX arrays
that reach the XLA runtime (``x.device.client``, host paths in ``x.traceback``); numpy's ``strides`` and
the array-API ``device`` exist on one side only. A reward must compute the same on both."""

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
MAX_COMPONENT_NAME = 48
