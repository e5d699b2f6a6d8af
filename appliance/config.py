"""Appliance configuration: one frozen dataclass, loaded from TOML and APPLIANCE_* variables."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from streamfleet.config import load_config
from streamfleet.tokens import TokenSettings

from .eviction.factory import POLICY_NAMES

ENV_PREFIX = "APPLIANCE"
GIB = 1024**3


@dataclass(frozen=True)
class ApplianceConfig:
    """Everything one cache appliance needs; the defaults run on 127.0.0.1 with nothing else set."""

    # Fleet-unique appliance id and the site (ISP / location group) it belongs to.
    id: str = "appliance-1"
    site: str = "default"
    host: str = "127.0.0.1"
    port: int = 8081
    # Base URL viewers and peers use to reach this appliance; empty means http://{host}:{port}.
    public_url: str = ""
    # Chunks live in data_dir/chunks, in-progress writes in data_dir/tmp (same filesystem).
    data_dir: Path = Path("data/appliance")
    # Bytes of chunk data kept on disk; least valuable chunks are evicted beyond it.
    capacity_bytes: int = 10 * GIB
    # CIDR prefixes of the clients this appliance serves (advertised to the control plane).
    client_prefixes: tuple[str, ...] = ()
    latitude: float = 0.0
    longitude: float = 0.0
    # gRPC address of the control plane; the appliance serves even while it is unreachable.
    control_plane: str = "127.0.0.1:50051"
    # Shared secret proving this appliance's identity to the control plane.
    secret: str = "streamfleet-dev-fleet-secret"
    # Where misses are fetched from.
    origin_url: str = "http://127.0.0.1:8000"
    # Connect / read / write timeout of each upstream operation (a stalled origin gives a 504).
    upstream_timeout_s: float = 5.0
    # Used until the control plane's Register answer names its own interval.
    heartbeat_interval_ms: int = 1000
    # Longest wait between attempts to reach an unreachable control plane (jittered, doubling
    # from 0.25 s): after an outage the appliance re-registers at most this long after it returns.
    control_plane_max_backoff_s: float = 10.0
    # How long the origin's title catalog (sizes, checksums) is trusted; unknown titles are
    # remembered for catalog_negative_ttl_s so a flood of bad ids does not reach the origin.
    catalog_ttl_s: float = 60.0
    catalog_negative_ttl_s: float = 5.0
    tokens: TokenSettings = field(default_factory=TokenSettings)
    log_level: str = "info"
    # One JSON access line per request that reaches the starlette app (misses, errors, /admin;
    # every request with server = "uvicorn"), tokens redacted; false: none.
    access_log: bool = True
    # The fast server logs one verified hit in this many (0: none; hits are in /metrics anyway).
    access_log_hit_sample: int = 100
    # "fast": the built-in sendfile HTTP/1.1 server answers hits itself and hands everything else
    # to the starlette app; "uvicorn": the starlette app alone under uvicorn (slower hits).
    server: str = "fast"
    # Extra event loops (threads) serving hits beside the main loop, for the fast server;
    # -1 = auto (none on 1-2 CPUs, else CPUs - 2), 0 = the main loop alone.
    hit_threads: int = -1
    # Request heads larger than this are refused with 431.
    max_header_bytes: int = 16 * 1024
    # Connections beyond max_connections are answered 503 and closed; above overload_connections
    # /healthz reports "overloaded" (503) so steering and the control plane send viewers elsewhere.
    max_connections: int = 4096
    overload_connections: int = 2048
    # Idle keep-alive connections are closed after this many seconds.
    keepalive_timeout_s: float = 15.0
    # A request must arrive whole (head and body) within this many seconds of its first byte,
    # however steadily it trickles in (slowloris); else the connection is closed.
    header_timeout_s: float = 10.0
    # A response that makes no progress for this many seconds (the client stopped reading) is
    # abandoned and its connection closed.
    send_timeout_s: float = 60.0
    # Static site peers, appliance id -> base URL (this appliance's own id may be listed too).
    # The control plane's fleet state, when reachable, replaces this list.
    peers: dict[str, str] = field(default_factory=dict)
    # A peer must accept the connection this fast, and answer within peer_timeout_s, or the miss
    # goes to the origin instead.
    peer_connect_timeout_s: float = 0.3
    peer_timeout_s: float = 2.0
    # A peer that timed out or failed is not asked again for this long (0: ask it every time).
    peer_cooldown_s: float = 10.0
    # Extra attempts at the origin after a connection error (not after a timeout or bad bytes).
    upstream_retries: int = 1
    # Chunks found on disk at start-up are read back and hashed on their first hit (in a thread);
    # false trusts them on size alone.
    verify_on_first_hit: bool = True
    # The scrubber reads verified chunks back at this many bytes per second on average, pass
    # after pass, and drops any whose sha256 changed (silent disk corruption); 0 turns it off.
    scrub_bytes_per_s: int = 8 * 1024 * 1024
    # Bearer token for POST /admin/drain; empty disables the admin endpoints (403).
    admin_token: str = "streamfleet-dev-admin-token"
    # Eviction order of the chunk store: fifo, lru, s3fifo, sieve or streamfleet (see
    # appliance/eviction). Chunks of the fill manifest's titles are pinned whatever the policy.
    eviction_policy: str = "streamfleet"
    # Fill the store with the control plane's fill manifest inside the site's fill window.
    fill_enabled: bool = True
    # The fill pauses while more client connections than this are open (0 = never pauses).
    fill_yield_connections: int = 256
    # Chunks the fill fetches at once (all within the window's rate).
    fill_concurrency: int = 2
    # How often the fill agent asks for its manifest; a heartbeat naming a newer one asks at once.
    fill_poll_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("id must not be empty")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is out of range")
        if self.capacity_bytes <= 0:
            raise ValueError("capacity_bytes must be positive")
        if self.upstream_timeout_s <= 0:
            raise ValueError("upstream_timeout_s must be positive")
        if self.heartbeat_interval_ms <= 0:
            raise ValueError("heartbeat_interval_ms must be positive")
        if self.control_plane_max_backoff_s <= 0:
            raise ValueError("control_plane_max_backoff_s must be positive")
        if self.catalog_ttl_s < 0 or self.catalog_negative_ttl_s < 0:
            raise ValueError("catalog TTLs must not be negative")
        if not -90.0 <= self.latitude <= 90.0 or not -180.0 <= self.longitude <= 180.0:
            raise ValueError("latitude/longitude out of range")
        for prefix in self.client_prefixes:
            try:
                ipaddress.ip_network(prefix, strict=False)
            except ValueError:
                raise ValueError(f"client_prefixes: {prefix!r} is not a CIDR prefix") from None
        if not self.origin_url.startswith(("http://", "https://")):
            raise ValueError(f"origin_url {self.origin_url!r} is not an http(s) URL")
        if self.server not in ("fast", "uvicorn"):
            raise ValueError(f"server must be 'fast' or 'uvicorn', not {self.server!r}")
        if self.access_log_hit_sample < 0:
            raise ValueError("access_log_hit_sample must be 0 (none) or more")
        if self.hit_threads < -1:
            raise ValueError("hit_threads must be -1 (auto), 0 or more")
        if self.max_header_bytes < 1024:
            raise ValueError("max_header_bytes must be at least 1024")
        if self.max_connections <= 0 or self.overload_connections <= 0:
            raise ValueError("max_connections and overload_connections must be positive")
        if self.keepalive_timeout_s <= 0 or self.header_timeout_s <= 0 or self.send_timeout_s <= 0:
            raise ValueError("keepalive_timeout_s, header_timeout_s and send_timeout_s must be positive")
        if self.peer_connect_timeout_s <= 0 or self.peer_timeout_s <= 0:
            raise ValueError("peer timeouts must be positive")
        if self.peer_cooldown_s < 0:
            raise ValueError("peer_cooldown_s must not be negative")
        if self.scrub_bytes_per_s < 0:
            raise ValueError("scrub_bytes_per_s must not be negative")
        if self.upstream_retries < 0:
            raise ValueError("upstream_retries must not be negative")
        for peer_id, url in self.peers.items():
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"peers.{peer_id}: {url!r} is not an http(s) URL")
        if self.eviction_policy not in POLICY_NAMES:
            raise ValueError(f"eviction_policy must be one of {', '.join(POLICY_NAMES)}")
        if self.fill_yield_connections < 0 or self.fill_concurrency < 1 or self.fill_poll_s <= 0:
            raise ValueError("need fill_yield_connections >= 0, fill_concurrency >= 1, fill_poll_s > 0")
        self.tokens.keyring()  # fail at start-up, naming the problem, not at the first request

    @property
    def http_url(self) -> str:
        """The base URL advertised to the control plane (and so to viewers through steering)."""
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"

    @property
    def origin_base(self) -> str:
        return self.origin_url.rstrip("/")

    @property
    def chunks_dir(self) -> Path:
        return self.data_dir / "chunks"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"


def load(path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> ApplianceConfig:
    """Load the config from ``path`` (None: defaults) overlaid by APPLIANCE_* variables.

    Raises streamfleet.config.ConfigError naming the bad key.
    """
    return load_config(ApplianceConfig, path, ENV_PREFIX, environ)
