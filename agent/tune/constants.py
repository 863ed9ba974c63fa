"""A reward's named module-level constants: read them, derive a search range for each, write new values.

Every reward RewardSmith produces keeps its weights, scales and temperatures in named constants
(``W_SPEED = 0.5``), so that they can be tuned apart from the structure (issue 13; Language to Rewards
has the LLM set parameters an optimizer then uses, R* tunes weights apart from structural edits).
:func:`reward_constants` finds them with ``ast``; :func:`search_space` gives each a range from its
value and sign; :func:`rewrite` puts new values into the same source (comments, helpers and the
function body unchanged), and :func:`code_diff` shows what changed.
"""

from __future__ import annotations

import ast
import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass

from rewardsmith.core.errors import ConfigError

SPREAD = 4.0
"""Default range of a non-zero constant: from ``value / SPREAD`` to ``value × SPREAD``, searched in log scale."""
FIXED_PREFIXES = ("TARGET_",)
"""Constants named after a task's goal value (``TARGET_POSITION = 0.45``: the flag) stay fixed unless overridden."""


@dataclass(frozen=True, kw_only=True)
class Constant:
    """One module-level ``NAME = <number>`` of a reward module."""

    name: str
    value: float
    integer: bool
    line: int
    """1-based line of the literal; ``col``/``end_col`` are its character offsets on that line."""
    col: int
    end_col: int


@dataclass(frozen=True, kw_only=True)
class ParamRange:
    """How one constant is searched. ``sign`` × a magnitude in ``[low, high]`` (log scale when ``log``)."""

    name: str
    low: float
    high: float
    log: bool
    integer: bool
    sign: int = 1
    """+1 or -1: the constant keeps the sign the designer gave it (a penalty stays a penalty)."""

    def value(self, magnitude: float) -> float:
        return self.sign * magnitude

    def magnitude(self, value: float) -> float:
        """The searched quantity for a constant value (clipped into the range)."""
        return min(max(self.sign * value, self.low), self.high)


def reward_constants(code: str) -> tuple[Constant, ...]:
    """The module's ``NAME = number`` assignments (ints and floats, a leading minus allowed; bools are not numbers)."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise ConfigError(f"the reward does not parse (line {exc.lineno}: {exc.msg})") from None
    out = []
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
            continue
        node = stmt.value
        try:
            value = ast.literal_eval(node)
        except ValueError:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            continue
        if node.end_lineno != node.lineno or node.end_col_offset is None:
            continue
        out.append(Constant(name=stmt.targets[0].id, value=float(value), integer=isinstance(value, int),
                            line=node.lineno, col=node.col_offset, end_col=node.end_col_offset))
    return tuple(out)


def search_space(constants: tuple[Constant, ...], overrides: Mapping[str, str] | None = None) -> tuple[ParamRange, ...]:
    """A range per tunable constant.

    Default: a non-zero constant is searched from ``|v| / 4`` to ``|v| × 4`` in log scale with its sign kept;
    a zero one in ``[-1, 1]``; ``TARGET_*`` constants stay fixed. ``overrides`` maps a name to ``"LOW:HIGH"``
    (the constant is searched there; log scale when both ends have one sign) or to ``"fixed"``.
    """
    overrides = dict(overrides or {})
    known = {c.name for c in constants}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"no constant named {', '.join(unknown)} in the reward; its constants are: "
                          f"{', '.join(sorted(known)) or '(none)'}")
    out = []
    for c in constants:
        spec = overrides.get(c.name)
        if spec is not None:
            r = _override(c, spec)
            if r is not None:
                out.append(r)
            continue
        if c.name.startswith(FIXED_PREFIXES):
            continue
        if c.value == 0.0:
            out.append(ParamRange(name=c.name, low=-1.0, high=1.0, log=False, integer=c.integer))
            continue
        mag = abs(c.value)
        low, high = mag / SPREAD, mag * SPREAD
        if c.integer:
            low, high = max(1.0, math.floor(low)), max(2.0, math.ceil(high))
        out.append(ParamRange(name=c.name, low=low, high=high, log=True, integer=c.integer,
                              sign=1 if c.value > 0 else -1))
    return tuple(out)


def _override(c: Constant, spec: str) -> ParamRange | None:
    if spec.strip().lower() == "fixed":
        return None
    try:
        low_s, high_s = spec.split(":")
        low, high = float(low_s), float(high_s)
    except ValueError:
        raise ConfigError(f"range of {c.name} must be LOW:HIGH or 'fixed', got {spec!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ConfigError(f"range of {c.name} must have LOW < HIGH (both finite), got {spec!r}")
    if low > 0 or high < 0:
        sign = 1 if low > 0 else -1
        lo, hi = sorted((abs(low), abs(high)))
        return ParamRange(name=c.name, low=lo, high=hi, log=True, integer=c.integer, sign=sign)
    return ParamRange(name=c.name, low=low, high=high, log=False, integer=c.integer)


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["W_FLAG=1:100", "SCALE_X=fixed"]`` → ``{"W_FLAG": "1:100", "SCALE_X": "fixed"}``."""
    out = {}
    for item in items:
        name, sep, spec = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--range takes NAME=LOW:HIGH or NAME=fixed, got {item!r}")
        out[name.strip()] = spec.strip()
    return out


def format_value(value: float, integer: bool) -> str:
    """A constant's new literal: ints stay ints, floats get 6 significant digits."""
    if integer:
        return str(round(value))
    text = f"{value:.6g}"
    return text if any(ch in text for ch in ".en") else text + ".0"


def rewrite(code: str, values: Mapping[str, float]) -> str:
    """The same module with new values for the named constants (everything else byte-for-byte the same)."""
    constants = {c.name: c for c in reward_constants(code)}
    missing = sorted(set(values) - set(constants))
    if missing:
        raise ConfigError(f"no constant named {', '.join(missing)} in the reward")
    lines = code.splitlines(keepends=True)
    # Right to left within a line, so earlier offsets stay valid.
    for c in sorted((constants[n] for n in values), key=lambda c: (c.line, -c.col)):
        line = lines[c.line - 1]
        encoded = line.encode("utf-8")  # ast offsets are in bytes
        literal = format_value(values[c.name], c.integer).encode("utf-8")
        lines[c.line - 1] = (encoded[:c.col] + literal + encoded[c.end_col:]).decode("utf-8")
    return "".join(lines)


def code_diff(old: str, new: str, old_label: str, new_label: str) -> str:
    """A unified diff of two reward modules (empty when they are equal)."""
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=old_label, tofile=new_label))
