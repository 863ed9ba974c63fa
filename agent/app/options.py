"""The command line generated from the typed config: every option is declared once, in its dataclass.

A field of :class:`~agent.records.config.RunConfig` or :class:`~agent.records.config.LLMOptions` becomes a flag:
its name (``--review-timeout`` for ``review_timeout_s`` when the field says so), its type and
choices (from the annotation; a ``Literal`` gives the choices), its default, and its help text
(the field's docstring). ``Flag`` metadata on a field only says what cannot be read off it: another
flag name, a ``--no-…`` switch for a default-true bool, a default computed at start-up, or that
``resume`` may change it. Reading the parsed arguments back into the dataclass is the same table.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import fractions
import inspect
import itertools
import math
import operator
import re
import textwrap
import types
import typing
from collections.abc import Iterable
from functools import cache
from typing import Any, Literal, TypeVar, get_args, get_origin

from rewardsmith.agent.records.config import Flag
from rewardsmith.core.errors import ConfigError

T = TypeVar("T")

_NONE_IS = re.compile(r";\s*None\s*=\s*(.+)$")
"""The docstrings' ``...; None = what an unset option means`` (read by :func:`help_for`)."""


def add_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type, *,
                only: Iterable[str] | None = None, resume: bool = False) -> None:
    """Add a flag for every CLI field of the dataclass ``cls`` (``resume``: only those resume may change).

    Every flag defaults to None in the namespace, so :func:`from_args` can tell "not given" apart.
    """
    wanted = set(only) if only is not None else None
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        meta: Flag = f.metadata.get("flag", Flag())
        if not meta.cli or (wanted is not None and f.name not in wanted) or (resume and not meta.resume):
            continue
        if dataclasses.is_dataclass(hints[f.name]):
            continue
        help_text = help_for(cls, f, resume=resume)
        kind, choices = _scalar(hints[f.name])
        name = option_name(f)
        if kind is bool:
            action = "store_false" if meta.negate else "store_true"
            parser.add_argument(name, dest=f.name, action=action, default=None, help=help_text)
            if meta.off is not None:
                parser.add_argument(meta.off, dest=f.name, action="store_false", help=f"the opposite of {name}")
            continue
        metavar = meta.metavar or ("SECONDS" if f.name.endswith("_s") else f.name.upper())
        parser.add_argument(name, dest=f.name, type=kind, choices=choices, default=None, help=help_text,
                            metavar=None if choices else metavar)


def help_for(cls: type, f: dataclasses.Field[Any], resume: bool = False) -> str:
    """The help line of a field's flag, written for a person from the field's docstring.

    The docstring's Python (``None = X``, double back-quotes) becomes words: "(default: X)"; a
    ``--no-…`` switch says that the behaviour is on by default and the flag turns it off; a default
    is shown as people write it (``1/9``, ``5 s``), not as ``0.111111``.
    """
    meta: Flag = f.metadata.get("flag", Flag())
    text = field_docs(cls).get(f.name, "").replace("``", "").rstrip(".")
    unset = _NONE_IS.search(text)
    if unset is not None:  # "...; None = the task file's budget" -> "... (default: the task file's budget)"
        text = f"{text[:unset.start()]} (default: {unset.group(1)})"
    if meta.negate:
        return f"{text}. On by default; {option_name(f)} turns it off"
    default = _default(f, meta)
    if resume or default is None or isinstance(default, bool):
        return text
    shown = show_value(default, seconds=f.name.endswith("_s"))
    if meta.default_help:
        return f"{text} (default: {meta.default_help}, here {shown})"
    return f"{text} (default {shown})"


def show_value(value: Any, seconds: bool = False) -> str:
    """A default as a person writes it: ``1/9`` rather than ``0.111111``, ``5 s`` for seconds."""
    text = str(value)
    if isinstance(value, float) and math.isfinite(value):
        text = f"{value:g}"
        if len(text) > 6:  # not a short decimal: a small fraction if it is one, else two digits
            frac = fractions.Fraction(value).limit_denominator(100)
            if float(frac) != value:
                text = f"{value:.2g}"
            elif frac.denominator == 1:
                text = str(frac.numerator)
            else:
                text = f"{frac.numerator}/{frac.denominator}"
    return f"{text} s" if seconds else text


def from_args(cls: type[T], args: argparse.Namespace, base: T | None = None, **fixed: Any) -> T:
    """The dataclass built from parsed flags: given flags win over ``base`` (or the CLI defaults), then ``fixed``.

    Every number is checked here, once for all options: finite (no ``nan``, no ``inf``) and within the
    field's bounds (:class:`~agent.records.config.Flag`); a bad one is a one-line :class:`ConfigError`.
    """
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        meta: Flag = f.metadata.get("flag", Flag())
        given = getattr(args, f.name, None) if meta.cli else None
        if given is not None:
            values[f.name] = given
        elif base is not None:
            values[f.name] = getattr(base, f.name)
        elif meta.cli and meta.default is not None:
            values[f.name] = meta.default()
    values.update(fixed)
    out = cls(**values)
    check_numbers(out)
    return out


def check_numbers(obj: Any) -> None:
    """Raise :class:`ConfigError` for the first number field of ``obj`` that is not finite or out of its bounds."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        meta: Flag = f.metadata.get("flag", Flag())
        name = option_name(f) if meta.cli else f.name
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value}")
        checks = ((meta.at_least, "at least", operator.ge), (meta.above, "more than", operator.gt),
                  (meta.at_most, "at most", operator.le), (meta.below, "less than", operator.lt))
        for bound, words, holds in checks:
            if bound is not None and not holds(value, bound):
                seconds = f.name.endswith("_s")
                raise ConfigError(f"{name} must be {words} {show_value(bound, seconds)}, "
                                  f"got {show_value(value, seconds)}")


def option_name(f: dataclasses.Field[Any]) -> str:
    meta: Flag = f.metadata.get("flag", Flag())
    return meta.name or "--" + f.name.replace("_", "-")


@cache
def field_docs(cls: type) -> dict[str, str]:
    """Each field's docstring (the string literal right after its annotation), by field name."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, nxt in itertools.pairwise(body):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str)):
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def _default(f: dataclasses.Field[Any], meta: Flag) -> Any:
    if meta.default is not None:
        return meta.default()
    if f.default is not dataclasses.MISSING:
        return f.default
    return None


def _scalar(annotation: Any) -> tuple[Any, list[Any] | None]:
    """The argparse ``type`` and ``choices`` of a field's annotation (``X | None`` is ``X``)."""
    if get_origin(annotation) in (typing.Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        if all(get_origin(a) is Literal for a in options):  # Literal["a", "b"] | Literal["c"]: one set of choices
            choices = [c for a in options for c in get_args(a)]
            return type(choices[0]), choices
        annotation = options[0]
    if get_origin(annotation) is Literal:
        choices = list(get_args(annotation))
        return type(choices[0]), choices
    return annotation, None
