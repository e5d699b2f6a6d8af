"""Size-aware eviction policies, Belady, trace readers and a trace simulator for the appliance's cache.

Policies (``make_policy(name, capacity_bytes)``): ``fifo``, ``lru``, ``s3fifo``, ``sieve`` and
``streamfleet``, all behind :class:`CachePolicy`; :class:`StoreAdapter` puts any of them
behind the chunk store's seam.
"""

from __future__ import annotations

from .base import CachePolicy, PolicyBase
from .belady import Belady
from .chunks import expand_to_chunks
from .errors import EvictionError, NotCached, NoVictim, SimulationError, TraceFormatError
from .factory import POLICY_NAMES, make_policy
from .s3fifo import S3FIFO
from .sieve import SIEVE
from .simple import FIFO, LRU
from .simulate import SimResult, simulate
from .store_adapter import StoreAdapter
from .streamfleet import StreamfleetPolicy
from .traces import FORMATS as TRACE_FORMATS
from .traces import Request, Trace, read_trace

__all__ = [
    "FIFO",
    "LRU",
    "POLICY_NAMES",
    "S3FIFO",
    "SIEVE",
    "TRACE_FORMATS",
    "Belady",
    "CachePolicy",
    "EvictionError",
    "NoVictim",
    "NotCached",
    "PolicyBase",
    "Request",
    "SimResult",
    "SimulationError",
    "StoreAdapter",
    "StreamfleetPolicy",
    "Trace",
    "TraceFormatError",
    "expand_to_chunks",
    "make_policy",
    "read_trace",
    "simulate",
]
