"""Errors raised by the eviction policies, trace readers and simulator."""

from __future__ import annotations

from appliance.errors import ApplianceError


class EvictionError(ApplianceError):
    """Base class of every error raised by :mod:`appliance.eviction`."""


class NoVictim(EvictionError):
    """No key may be evicted: the policy is empty or every key it holds is pinned."""


class NotCached(EvictionError):
    """The operation needs a key the policy does not hold (pinning an absent key, unbalanced unpin)."""


class SimulationError(EvictionError):
    """A simulation that cannot run: an empty trace, or a cache size that rounds to zero."""


class TraceFormatError(EvictionError):
    """A trace file cannot be read: unknown format, unreadable file, or a malformed line in strict mode."""
