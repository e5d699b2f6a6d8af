"""Typed configuration: frozen dataclasses filled from a TOML file, then overlaid by env vars.

``load_config(ApplianceConfig, path, "APPLIANCE")`` reads the file, applies ``APPLIANCE_PORT``
style variables (nested sections joined by a double underscore: ``APPLIANCE_UPSTREAM__TIMEOUT``),
checks every value's type and raises :class:`ConfigError` naming the bad key. This is the only
module that reads the environment.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(Exception):
    """A configuration that cannot be used; the message names the key and the reason."""


def _convert(key: str, hint: Any, value: Any) -> Any:
    from_env = isinstance(value, _EnvValue)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        non_none = [a for a in args if a is not type(None)]
        if value is None or (from_env and value == ""):
            return None
        return _convert(key, non_none[0], value)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a table")
        return _build(typing.cast(type, hint), value, key + ".")
    if hint is bool:
        if from_env and isinstance(value, str):
            low = value.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{key}: expected a boolean, got {value!r}")
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected a boolean, got {value!r}")
        return value
    if hint is int:
        if from_env and isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise ConfigError(f"{key}: expected an integer, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if from_env and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f"{key}: expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return str(value)
    if hint is Path:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a path string, got {value!r}")
        return Path(value)
    if origin in (tuple, list):
        if from_env and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        item = args[0] if args else Any
        return tuple(
            _convert(f"{key}[{i}]", item, _EnvValue(v) if from_env else v) for i, v in enumerate(value)
        )
    if origin in (dict, Mapping) or hint is dict:
        if from_env and isinstance(value, str):
            pairs = [p.split("=", 1) for p in value.split(",") if p.strip()]
            if any(len(p) != 2 for p in pairs):
                raise ConfigError(f"{key}: expected k=v,k2=v2, got {value!r}")
            value = {k.strip(): v.strip() for k, v in pairs}
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a table, got {value!r}")
        vt = args[1] if len(args) == 2 else Any
        return {
            str(k): _convert(f"{key}.{k}", vt, _EnvValue(v) if from_env else v) for k, v in value.items()
        }
    if hint is Any:
        return value
    raise ConfigError(f"{key}: unsupported type {hint!r}")


def _build(cls: type[T], data: Mapping[str, Any], prefix: str = "") -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{prefix}{unknown[0]}: unknown key")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        kwargs[name] = _convert(prefix + name, hints[name], value)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{prefix.rstrip('.') or cls.__name__}: {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{prefix.rstrip('.') or cls.__name__}: {exc}") from None


class _EnvValue(str):
    """A raw string from an environment variable: parsed leniently ("8080" -> 8080)."""


def _env_overlay(cls: type[Any], env_prefix: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """Collect PREFIX_KEY / PREFIX_SECTION__KEY variables into a nested dict of strings."""
    out: dict[str, Any] = {}
    lead = env_prefix + "_"
    for var, raw in environ.items():
        if not var.startswith(lead):
            continue
        path = var[len(lead):].lower().split("__")
        target_cls: Any = cls
        node = out
        for i, part in enumerate(path):
            hints = typing.get_type_hints(target_cls)
            if part not in hints:
                raise ConfigError(f"{var}: unknown key {'.'.join(path[: i + 1])}")
            if i == len(path) - 1:
                if dataclasses.is_dataclass(hints[part]):
                    raise ConfigError(f"{var}: {part} is a section: set {var}__KEY for each key")
                node[part] = _EnvValue(raw)
            elif dataclasses.is_dataclass(hints[part]):
                node = node.setdefault(part, {})
                target_cls = hints[part]
            else:
                raise ConfigError(f"{var}: {part} is not a section")
    return out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(merged.get(k), Mapping):
            merged[k] = _merge(dict(merged[k]), v)
        else:
            merged[k] = v
    return merged


def load_config(
    cls: type[T],
    path: Path | str | None,
    env_prefix: str,
    environ: Mapping[str, str] | None = None,
) -> T:
    """Build ``cls`` from the TOML file at ``path`` (None: defaults only) and the environment.

    Raises ConfigError naming the first bad key.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
    env = _env_overlay(cls, env_prefix, os.environ if environ is None else environ)
    merged = _merge(data, env)
    return _build(cls, merged)
