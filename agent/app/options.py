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
import inspect
import itertools
import textwrap
import types
import typing
from collections.abc import Iterable
from functools import cache
from typing import Any, Literal, TypeVar, get_args, get_origin

from rewardsmith.agent.records.config import Flag

T = TypeVar("T")


def add_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type, *,
                only: Iterable[str] | None = None, resume: bool = False) -> None:
    """Add a flag for every CLI field of the dataclass ``cls`` (``resume``: only those resume may change).

    Every flag defaults to None in the namespace, so :func:`from_args` can tell "not given" apart.
    """
    wanted = set(only) if only is not None else None
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        meta: Flag = f.metadata.get("flag", Flag())
        if not meta.cli or (wanted is not None and f.name not in wanted) or (resume and not meta.resume):
            continue
        if dataclasses.is_dataclass(hints[f.name]):
            continue
        default = _default(f, meta)
        help_text = docs.get(f.name, "").replace("``", "").rstrip(".")
        if meta.negate:
            help_text = f"do not: {help_text[:1].lower()}{help_text[1:]}"
        if default is not None and not isinstance(default, bool) and not resume:
            help_text += f" (default {default:g})" if isinstance(default, float) else f" (default {default})"
        kind, choices = _scalar(hints[f.name])
        name = option_name(f)
        if kind is bool:
            action = "store_false" if meta.negate else "store_true"
            parser.add_argument(name, dest=f.name, action=action, default=None, help=help_text)
            if meta.off is not None:
                parser.add_argument(meta.off, dest=f.name, action="store_false", help=f"the opposite of {name}")
            continue
        parser.add_argument(name, dest=f.name, type=kind, choices=choices, default=None, help=help_text,
                            metavar=None if choices else f.name.upper().removesuffix("_S"))


def from_args(cls: type[T], args: argparse.Namespace, base: T | None = None, **fixed: Any) -> T:
    """The dataclass built from parsed flags: given flags win over ``base`` (or the CLI defaults), then ``fixed``."""
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
    return cls(**values)


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
