"""Replay a trace through a policy and measure object and byte miss ratios (no warm-up)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from .belady import Belady
from .errors import SimulationError
from .factory import make_policy

BELADY = "belady"


class _Replayable(Protocol):
    def request(self, key: Any, size: int) -> bool: ...


@dataclass(frozen=True)
class Footprint:
    """What a trace touches: distinct keys and their bytes (each key counted at its first size)."""

    objects: int
    bytes: int
    # True when every request has size 1 (the cache is then sized in objects, as libCacheSim does).
    unit_sizes: bool


@dataclass(frozen=True)
class SimResult:
    """One replay. Ratios are 0..1; a ratio over zero requests or bytes is 0."""

    policy: str
    capacity: int
    requests: int
    misses: int
    requested_bytes: int
    missed_bytes: int

    @property
    def object_miss_ratio(self) -> float:
        return self.misses / self.requests if self.requests else 0.0

    @property
    def byte_miss_ratio(self) -> float:
        return self.missed_bytes / self.requested_bytes if self.requested_bytes else 0.0

    def as_dict(self) -> dict[str, Any]:
        ratios = {"object_miss_ratio": self.object_miss_ratio, "byte_miss_ratio": self.byte_miss_ratio}
        return asdict(self) | ratios


def footprint(requests: Sequence[tuple[Hashable, int]]) -> Footprint:
    sizes: dict[Hashable, int] = {}
    for key, size in requests:
        sizes.setdefault(key, size)
    unit = all(size == 1 for _, size in requests)
    return Footprint(len(sizes), sum(sizes.values()), unit)


def capacity_for(fp: Footprint, fraction: float) -> int:
    """``fraction`` of the footprint: of the objects for unit sizes, else of the bytes (rounded down).

    Raises SimulationError when that is zero.
    """
    if not 0.0 < fraction <= 1.0:
        raise SimulationError(f"size fraction must be in (0, 1], got {fraction}")
    capacity = int(fraction * (fp.objects if fp.unit_sizes else fp.bytes))
    if capacity <= 0:
        raise SimulationError(f"a cache of {fraction:g} of this trace's footprint holds nothing")
    return capacity


def replay(
    requests: Sequence[tuple[Hashable, int]], policy: _Replayable, name: str, capacity: int
) -> SimResult:
    """Feed every request to ``policy.request`` in order and count misses."""
    misses = missed_bytes = requested_bytes = 0
    request = policy.request
    for key, size in requests:
        requested_bytes += size
        if not request(key, size):
            misses += 1
            missed_bytes += size
    return SimResult(name, capacity, len(requests), misses, requested_bytes, missed_bytes)


def simulate(
    requests: Sequence[tuple[Hashable, int]],
    policy: str,
    fraction: float,
    fp: Footprint | None = None,
    **params: Any,
) -> SimResult:
    """Replay ``requests`` through a fresh ``policy`` (a factory name or "belady") sized at ``fraction``.

    ``fp`` saves recomputing the footprint across runs. Raises SimulationError (empty trace,
    zero capacity) and ValueError (unknown policy or parameter).
    """
    if not requests:
        raise SimulationError("the trace has no requests")
    capacity = capacity_for(fp if fp is not None else footprint(requests), fraction)
    if policy == BELADY:
        return replay(requests, Belady(capacity, requests), BELADY, capacity)
    return replay(requests, make_policy(policy, capacity, **params), policy, capacity)
