"""Counters of the control plane's gRPC traffic, exported by ``/metrics``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Stats:
    """Plain counters; mutate from the event loop only."""

    # Register calls accepted.
    registrations: int = 0
    # Heartbeats accepted from known appliances.
    heartbeats: int = 0
    # Heartbeats from unknown appliances, answered with reregister=true.
    unknown_heartbeats: int = 0
    # Requests refused for a missing or wrong secret.
    denied: int = 0
    # Requests refused as malformed.
    invalid: int = 0
    # Monotonic ms of the last completed sweep; 0: none yet.
    last_sweep_ms: int = 0
