"""Config dataclasses as data: fields, reader-facing types, defaults and the comments above them.

Descriptions are single-sourced from the comments written above (or after) each field in a room's
``config.py`` (read with ``inspect.getsource`` + ``ast`` + ``tokenize``), so nothing is repeated
elsewhere. Also a TOML value writer, since tomllib only reads.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import json
import math
import re
import textwrap
import tokenize
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

REQUIRED: Any = object()  # the default of a field that has none


@dataclass(frozen=True)
class FieldRef:
    """One key of a config section: its TOML name, type, default and the comment lines above it."""

    name: str
    type_text: str
    default: Any  # REQUIRED when the field has no default
    comment: tuple[str, ...]
    section: SectionRef | None = None  # set when the field is a nested [section]

    @property
    def description(self) -> str:
        return " ".join(self.comment)


@dataclass(frozen=True)
class SectionRef:
    """A config dataclass: the root (path ()) or a nested ``[section]`` (path ("tokens",))."""

    cls: type[Any]
    path: tuple[str, ...]
    summary: str
    fields: tuple[FieldRef, ...]

    @property
    def keys(self) -> tuple[FieldRef, ...]:
        """Plain keys (written before any table in TOML)."""
        return tuple(f for f in self.fields if f.section is None)

    @property
    def sections(self) -> tuple[SectionRef, ...]:
        return tuple(f.section for f in self.fields if f.section is not None)


# -- dataclasses ---------------------------------------------------------------------------------
def describe(cls: type[Any], path: tuple[str, ...] = ()) -> SectionRef:
    """Fields, types, defaults and comments of the config dataclass ``cls``, nested sections too."""
    hints = typing.get_type_hints(cls)
    comments = field_comments(cls)
    refs = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        section = describe(typing.cast(type[Any], hint), (*path, f.name)) \
            if dataclasses.is_dataclass(hint) else None
        refs.append(FieldRef(f.name, type_text(hint), _default(f), comments.get(f.name, ()), section))
    return SectionRef(cls, path, class_summary(cls), tuple(refs))


def field_comments(cls: type[Any]) -> dict[str, tuple[str, ...]]:
    """Field name -> comment lines: the ``#`` lines directly above it, then a trailing comment.

    Base dataclasses are read too (a subclass's comment wins). Classes without source: {}.
    """
    out: dict[str, tuple[str, ...]] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or not dataclasses.is_dataclass(klass):
            continue
        out.update(_comments_in_class(klass))
    return out


def _comments_in_class(cls: type[Any]) -> dict[str, tuple[str, ...]]:
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    lines = source.splitlines()
    trailing: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT and not lines[tok.start[0] - 1].lstrip().startswith("#"):
            trailing[tok.start[0]] = _comment_text(tok.string)
    classdef = ast.parse(source).body[0]
    assert isinstance(classdef, ast.ClassDef)
    out: dict[str, tuple[str, ...]] = {}
    for node in classdef.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above: list[str] = []
        line = node.lineno - 1  # 1-based number of the line above the field
        while line >= 1 and lines[line - 1].lstrip().startswith("#"):
            above.insert(0, _comment_text(lines[line - 1]))
            line -= 1
        last = node.end_lineno or node.lineno
        after = [trailing[n] for n in range(node.lineno, last + 1) if n in trailing]
        text = tuple(t for t in (*above, *after) if t)
        if text:
            out[node.target.id] = text
    return out


def _comment_text(raw: str) -> str:
    text = raw.strip()[1:]
    if text.startswith(":"):  # Sphinx-style "#:" attribute comments
        text = text[1:]
    return _plain(text.strip())


def _plain(text: str) -> str:
    """RST literals (``x``) as Markdown ones (`x`)."""
    return text.replace("``", "`")


def class_summary(cls: type[Any]) -> str:
    """The class docstring as one paragraph; "" when the class has only dataclass's generated one."""
    doc = cls.__doc__ or ""
    if not doc or doc.startswith(cls.__name__ + "("):
        return ""
    first = inspect.cleandoc(doc).split("\n\n")[0]
    return _plain(" ".join(first.split()))


def type_text(hint: Any) -> str:
    """A reader's name for a config type: "integer", "list of string", "table of number"..."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    names: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean",
                             Path: "path", Any: "any"}
    if hint in names:
        return names[hint]
    if origin in (types.UnionType, typing.Union):
        rest = [a for a in args if a is not type(None)]
        return f"{type_text(rest[0])} (optional)" if rest else "none"
    if dataclasses.is_dataclass(hint):
        return "section"
    if origin in (tuple, list):
        return f"list of {type_text(args[0])}" if args else "list"
    if origin in (dict, Mapping) or hint is dict:
        return f"table of {type_text(args[1])}" if len(args) == 2 else "table"
    return str(hint)


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return REQUIRED


def env_var(prefix: str, path: tuple[str, ...]) -> str:
    """``APPLIANCE_PORT``, ``ORIGIN_TOKENS__ACTIVE``: the variable overlaying the key at ``path``."""
    return f"{prefix}_" + "__".join(p.upper() for p in path)


# -- TOML ------------------------------------------------------------------------------------------
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else toml_value(key)


def toml_value(value: Any) -> str:
    """``value`` (anything tomllib returns, plus tuples and paths) as a TOML value; tables inline.

    Raises TypeError for values TOML cannot hold (None, objects).
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str | Path):
        # A JSON string is a valid TOML basic string once DEL, which TOML wants escaped, is.
        return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"{value!r} has no TOML form")
