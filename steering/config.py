"""Steering configuration: one frozen dataclass, loaded from TOML and ``STEERING_*`` variables."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from streamfleet.config import load_config
from streamfleet.tokens import TokenSettings


@dataclass(frozen=True)
class SteeringConfig:
    """Everything the steering service needs; the defaults work on 127.0.0.1 as they are."""

    host: str = "127.0.0.1"
    port: int = 8080
    # gRPC address (host:port) of the control plane's Fleet service.
    control_plane: str = "127.0.0.1:50051"
    # Where steering itself looks titles up (GET /v1/titles/{id}).
    origin_url: str = "http://127.0.0.1:8000"
    # Origin base URL handed to players as the last resort; "" means origin_url.
    origin_public_url: str = ""
    # Site for clients whose address matches no advertised prefix.
    default_site: str = "default"
    # CIDRs of proxies whose X-Forwarded-For is believed; empty: the peer address is the client.
    trusted_proxies: tuple[str, ...] = ()
    # Appliance URLs per answer (the origin comes on top); 0 sends every player to the origin.
    max_appliance_urls: int = 4
    tokens: TokenSettings = field(default_factory=TokenSettings)
    log_level: str = "info"
    # Catalog cache: how long a ready title is believed, how long "unknown" is, and how long a
    # stale entry may still answer while the origin is unreachable.
    catalog_ttl_seconds: float = 30.0
    catalog_negative_ttl_seconds: float = 2.0
    catalog_stale_seconds: float = 3600.0
    catalog_max_entries: int = 10_000
    origin_timeout_seconds: float = 2.0
    # Reconnect backoff towards the control plane (doubles up to the maximum, with jitter).
    watch_backoff_initial_seconds: float = 0.2
    watch_backoff_max_seconds: float = 5.0
    # On start-up, wait this long for the first fleet snapshot before serving (0: do not wait).
    startup_wait_seconds: float = 2.0
    # Largest accepted POST /v1/playback body.
    max_body_bytes: int = 4096

    def __post_init__(self) -> None:
        # ValueError here becomes a ConfigError naming the problem at start-up.
        for cidr in self.trusted_proxies:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"trusted_proxies: {cidr!r} is not a CIDR") from None
        if self.max_appliance_urls < 0:
            raise ValueError("max_appliance_urls must be >= 0")
        if not 0 < self.watch_backoff_initial_seconds <= self.watch_backoff_max_seconds:
            raise ValueError("need 0 < watch_backoff_initial_seconds <= watch_backoff_max_seconds")
        if self.max_body_bytes <= 0 or self.catalog_max_entries <= 0:
            raise ValueError("max_body_bytes and catalog_max_entries must be positive")
        self.tokens.keyring()  # raises ValueError for unusable keys
        if not self.origin_url.startswith(("http://", "https://")):
            raise ValueError(f"origin_url must be an http(s) URL, got {self.origin_url!r}")

    @property
    def player_origin_url(self) -> str:
        """Origin base URL given to players (no trailing slash)."""
        return (self.origin_public_url or self.origin_url).rstrip("/")


def load(path: Path | str | None) -> SteeringConfig:
    """Load the config file (None: defaults) overlaid by STEERING_* variables. Raises ConfigError."""
    return load_config(SteeringConfig, path, "STEERING")
