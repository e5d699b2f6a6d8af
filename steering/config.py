"""Steering configuration: one frozen dataclass, loaded from TOML and ``STEERING_*`` variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from streamfleet.clientip import check_cidrs
from streamfleet.config import load_config
from streamfleet.httpguard import HttpSettings
from streamfleet.sessions import SessionSettings
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
    # One JSON access line per HTTP request (tokens redacted); false: none.
    access_log: bool = True
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
    # Request deadlines, head size, keep-alive and connection limits ([http] section).
    http: HttpSettings = field(default_factory=HttpSettings)
    # Coverage-zone file (JSON or CSV: CIDR -> site, latitude, longitude); "" = none. Reloaded
    # when its mtime changes (checked at most every coverage_check_seconds).
    coverage_file: str = ""
    coverage_check_seconds: float = 1.0
    # MaxMind-format GeoIP database (City shape) for geo fallback; "" = none. Read locally only.
    geoip_database: str = ""
    # site -> sites to use, in order, when the site has no healthy appliance ([fallback_sites]).
    fallback_sites: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Bounded load: an appliance above factor x its site's average load is pushed down the list.
    load_balance_factor: float = 1.25
    # Bounded load starts above this many viewers per appliance (connections + recent picks).
    load_bound_floor: float = 8.0
    # Steering's own recent assignments count as load for about this long (decay time constant).
    assignment_window_seconds: float = 5.0
    # Cached site rankings (per fleet version, site, title).
    ranking_cache_size: int = 65_536
    # Control plane's HTTP API, where popularity (playback starts per site and title) is sent.
    control_plane_http: str = "http://127.0.0.1:8090"
    # Send popularity every this many seconds (0: never); bearer token for it ("" = none).
    popularity_interval_seconds: float = 10.0
    popularity_token: str = ""
    # Titles kept per site while the control plane cannot be reached (the rest are dropped).
    popularity_max_titles: int = 100_000
    # Playback needs a viewer session (Authorization: Bearer, or the session cookie).
    require_session: bool = True
    sessions: SessionSettings = field(default_factory=SessionSettings)

    def __post_init__(self) -> None:
        # ValueError here becomes a ConfigError naming the problem at start-up.
        check_cidrs(self.trusted_proxies)
        if self.max_appliance_urls < 0:
            raise ValueError("max_appliance_urls must be >= 0")
        if not 0 < self.watch_backoff_initial_seconds <= self.watch_backoff_max_seconds:
            raise ValueError("need 0 < watch_backoff_initial_seconds <= watch_backoff_max_seconds")
        if self.max_body_bytes <= 0 or self.catalog_max_entries <= 0:
            raise ValueError("max_body_bytes and catalog_max_entries must be positive")
        self.tokens.keyring()  # raises ValueError for unusable keys
        for name in ("origin_url", "control_plane_http"):
            url = getattr(self, name)
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{name} must be an http(s) URL, got {url!r}")
        self.sessions.keyring()
        if self.load_balance_factor < 1.0:
            raise ValueError("load_balance_factor must be >= 1")
        if self.assignment_window_seconds <= 0 or self.coverage_check_seconds < 0:
            raise ValueError("need assignment_window_seconds > 0 and coverage_check_seconds >= 0")
        if self.popularity_interval_seconds < 0 or self.popularity_max_titles <= 0:
            raise ValueError("need popularity_interval_seconds >= 0 and popularity_max_titles > 0")
        if self.ranking_cache_size <= 0:
            raise ValueError("ranking_cache_size must be positive")
        for site, fallbacks in self.fallback_sites.items():
            if site in fallbacks:
                raise ValueError(f"fallback_sites.{site}: a site cannot fall back to itself")

    @property
    def player_origin_url(self) -> str:
        """Origin base URL given to players (no trailing slash)."""
        return (self.origin_public_url or self.origin_url).rstrip("/")


def load(path: Path | str | None) -> SteeringConfig:
    """Load the config file (None: defaults) overlaid by STEERING_* variables. Raises ConfigError."""
    return load_config(SteeringConfig, path, "STEERING")
