"""Every bad key of a config file, not just the first: ``load_config`` again and again, each time
without the key it just named, until the file loads (or the remaining problem cannot be pinned on a
key). The service itself would stop at the first of these problems.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import tempfile
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import ConfigError, load_config
from .configschema import toml_key, toml_value


@dataclass(frozen=True)
class Problem:
    """One bad key (dotted, or an environment variable; "" for the file as a whole) and why."""

    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.key}: {self.reason}" if self.key else self.reason


def check_file(cls: type[Any], path: Path, env_prefix: str, use_environment: bool = False) -> list[Problem]:
    """Problems of the TOML file at ``path`` for the config dataclass ``cls``; [] when it loads.

    ``use_environment`` also applies the process's ``{env_prefix}_*`` variables (as the service
    would); otherwise none are. Safe to call from any thread (works on its own temp copies).
    """
    try:
        with open(path, "rb") as fh:
            data: dict[str, Any] = tomllib.load(fh)
    except FileNotFoundError:
        return [Problem("", f"config file {path} does not exist")]
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return [Problem("", f"config file {path}: {exc}")]
    environ: Mapping[str, str] | None = None if use_environment else {}
    problems: list[Problem] = []
    with tempfile.TemporaryDirectory(prefix="streamfleet-config-check-") as tmp:
        current = path  # the operator's own file first, then copies without the keys reported
        for attempt in range(_count_keys(data) + 2):
            try:
                load_config(cls, current, env_prefix, environ)
                return problems
            except ConfigError as exc:
                problem, removed = _attribute(cls, str(exc), data, env_prefix)
                problems.append(problem)
            if not removed:
                return problems
            current = Path(tmp) / f"attempt-{attempt}.toml"
            current.write_text(_dump(data))
    return problems


def _attribute(cls: type[Any], message: str, data: dict[str, Any], env_prefix: str) -> tuple[Problem, bool]:
    """The problem a ConfigError message describes, and whether its key was removed from ``data``."""
    key, sep, reason = message.partition(": ")
    if not sep:
        return Problem("", message), False
    if key.startswith(env_prefix + "_"):
        return Problem(key, reason), False  # environment: cannot be left out of a re-run
    path = [re.sub(r"\[\d+\]$", "", part) for part in key.split(".")]
    if key == cls.__name__:
        path = []
    section_cls = _section_class(cls, path)
    if section_cls is not None:
        # __post_init__ refused the section as a whole: blame the keys its message names.
        named = _named_keys(section_cls, data, path, reason)
        if named:
            for key_path in named:
                _remove(data, key_path)
            if len(named) == 1:
                reason = reason.removeprefix(named[0][-1] + ": ")
            return Problem(", ".join(".".join(p) for p in named), reason), True
        if path and _remove(data, path):
            return Problem(".".join(path), reason), True
        return Problem(".".join(path), reason), False
    if reason == "unknown key":
        reason += _suggestion(cls, path)
    reason = reason.removeprefix(path[-1] + ": ") if path else reason
    return Problem(".".join(path), reason), _remove(data, path)


def _named_keys(
    section_cls: type[Any], data: dict[str, Any], path: list[str], reason: str
) -> list[list[str]]:
    """Keys set in ``data`` at ``path`` (or in its nested sections) that ``reason`` names.

    A section's own check may fail on a nested one (``OriginConfig`` checks its ``[tokens]``), so
    the nested sections are searched when the section's own keys are not named.
    """
    table = _lookup(data, path)
    if not isinstance(table, dict):
        return []
    hints = typing.get_type_hints(section_cls)
    own = [[*path, name] for name in _field_names(section_cls)
           if name in table and not dataclasses.is_dataclass(hints[name])
           and re.search(rf"\b{re.escape(name)}\b", reason)]
    if own:
        return own
    nested: list[list[str]] = []
    for name in _field_names(section_cls):
        if name in table and dataclasses.is_dataclass(hints[name]):
            nested += _named_keys(typing.cast(type[Any], hints[name]), data, [*path, name], reason)
    return nested


def _section_class(cls: type[Any], path: list[str]) -> type[Any] | None:
    """The dataclass at ``path`` (root at []), or None when the path ends at a plain key."""
    current: Any = cls
    for part in path:
        hints = typing.get_type_hints(current) if dataclasses.is_dataclass(current) else {}
        if part not in hints:
            return None
        current = hints[part]
    return typing.cast(type[Any], current) if dataclasses.is_dataclass(current) else None


def _field_names(cls: type[Any]) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _suggestion(cls: type[Any], path: list[str]) -> str:
    parent = _section_class(cls, path[:-1])
    if parent is None:
        return ""
    close = difflib.get_close_matches(path[-1], _field_names(parent), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _lookup(data: Mapping[str, Any], path: list[str]) -> Any:
    node: Any = data
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _remove(data: dict[str, Any], path: list[str]) -> bool:
    parent = _lookup(data, path[:-1]) if path else None
    if isinstance(parent, dict) and path[-1] in parent:
        del parent[path[-1]]
        return True
    return False


def _count_keys(data: Mapping[str, Any]) -> int:
    return sum(1 + (_count_keys(v) if isinstance(v, Mapping) else 0) for v in data.values())


def _dump(data: Mapping[str, Any]) -> str:
    """``data`` as TOML: one line per top-level key, tables inline (equivalent to the original)."""
    return "".join(f"{toml_key(str(k))} = {toml_value(v)}\n" for k, v in data.items())
