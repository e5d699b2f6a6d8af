"""``make_policy``: build an eviction policy by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import PolicyBase
from .s3fifo import S3FIFO
from .sieve import SIEVE
from .simple import FIFO, LRU
from .streamfleet import StreamfleetPolicy

_BUILDERS: dict[str, Callable[..., PolicyBase[Any]]] = {
    "fifo": FIFO,
    "lru": LRU,
    "s3fifo": S3FIFO,
    "sieve": SIEVE,
    "streamfleet": StreamfleetPolicy,
}

POLICY_NAMES: tuple[str, ...] = tuple(_BUILDERS)


def make_policy(name: str, capacity_bytes: int, **params: Any) -> PolicyBase[Any]:
    """A new, empty policy ``name`` (one of POLICY_NAMES) holding at most ``capacity_bytes``.

    ``params`` go to the policy's constructor (e.g. ``move_to_main_threshold=1`` for s3fifo).
    Raises ValueError for an unknown name, an unknown parameter or a bad value.
    """
    builder = _BUILDERS.get(name)
    if builder is None:
        raise ValueError(f"unknown eviction policy {name!r}; expected one of {', '.join(POLICY_NAMES)}")
    try:
        return builder(capacity_bytes, **params)
    except TypeError as exc:
        raise ValueError(f"bad parameters for {name}: {exc}") from exc
