"""Control-plane configuration: one frozen dataclass, loaded from TOML + CONTROL_PLANE_* env vars."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from streamfleet.config import load_config
from streamfleet.httpguard import HttpSettings

ENV_PREFIX = "CONTROL_PLANE"
_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


@dataclass(frozen=True)
class ControlPlaneConfig:
    """Every knob of the control plane. Defaults work on 127.0.0.1 with nothing else configured."""

    host: str = "127.0.0.1"
    # gRPC port of the Fleet and grpc.health.v1 services.
    grpc_port: int = 50051
    # HTTP port of /healthz, /metrics and GET /v1/fleet.
    http_port: int = 8090
    # SQLite file of the appliance registry and fill plans; its directory is created at start-up.
    db_path: Path = Path("data/control_plane/registry.sqlite3")
    # The registry and fill plans in PostgreSQL ("postgresql://user:pass@host/db") or another SQLite
    # file ("sqlite:////path"); empty: db_path. Every replica given the same database serves the
    # same fleet: appliances may heartbeat to any of them, and one at a time plans fills.
    database_url: str = ""
    # This replica's name in the planner lease and in logs; empty: "<hostname>:<http_port>".
    replica_id: str = ""
    # The HTTP base URL the other replicas reach this one at (they forward operator requests only
    # the planning replica answers); empty: http://{host}:{http_port}.
    advertise_url: str = ""
    # The planner lease lasts this long and is renewed every third of it: when the planning
    # replica dies, another one plans within about this long.
    leader_lease_ms: int = 10_000
    # Heartbeat period the control plane tells appliances to use.
    heartbeat_interval_ms: int = 1000
    # An appliance with no heartbeat for this long is DOWN; must exceed heartbeat_interval_ms.
    down_after_ms: int = 3000
    # Secret every appliance presents unless appliance_secrets names it. Empty: only the
    # appliances listed in appliance_secrets are accepted.
    fleet_secret: str = "streamfleet-dev-fleet-secret"
    # appliance id -> secret, overriding fleet_secret for that appliance.
    appliance_secrets: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # An appliance reporting an error ratio above this is DEGRADED.
    degraded_error_ratio: float = 0.05
    log_level: str = "info"
    # One JSON access line per HTTP request (operator API, popularity reports); false: none.
    access_log: bool = True
    # How often missed heartbeats are looked for, dirty registry rows written and what other
    # replicas wrote read back.
    sweep_interval_ms: int = 200
    # Load-only changes (disk, egress, connections) publish a new fleet version at most this often.
    load_publish_interval_ms: int = 5000
    # On SIGTERM, in-flight RPCs get this long to finish before they are cancelled.
    shutdown_grace_ms: int = 5000
    # Origin base URL: the catalog (GET /v1/titles) for planning, and where appliances fill from.
    origin_url: str = "http://127.0.0.1:8000"
    # Bearer token of the operator endpoints (/v1/fill/*). Must not be empty.
    operator_token: str = "streamfleet-dev-operator-token"
    # Bearer token steering presents on POST /v1/popularity. Empty: reports need no token.
    reporter_token: str = ""
    # Popularity counts lose half their weight after this long.
    popularity_half_life_s: float = 2 * 86400.0
    # A title released less than this long ago counts as new (gets the new-release boost).
    new_release_window_s: float = 7 * 86400.0
    # A new title is predicted at least as popular as this quantile of its site's titles
    # (decaying with the half-life since release). 0: no boost.
    new_release_quantile: float = 0.99
    # One replica should carry at most this share of an appliance's fair share of site traffic;
    # hotter titles get more replicas. Larger: fewer replicas.
    replica_load_share: float = 0.25
    # A title displaces a previously planned one only when more popular by this factor (0.5: 1.5x),
    # so day-to-day noise in the counts of the tail moves nothing.
    displace_margin: float = 0.5
    # Share of each appliance's disk that fill may pin (0..1]; the rest stays cache for misses.
    fill_fraction: float = 0.8
    # Re-plan this often (seconds); fleet membership changes and POST /v1/fill/plan also re-plan.
    plan_interval_s: float = 600.0
    # Membership changes within this long of each other are planned once.
    plan_debounce_ms: int = 500
    # Timeout of each request to the origin catalog.
    catalog_timeout_s: float = 10.0
    # "fill run-now" without an explicit duration fills for this many hours.
    run_now_hours: float = 6.0
    # Largest JSON body accepted by the HTTP API (413 beyond); a popularity report of 100,000
    # titles is about 3 MB.
    max_json_body_bytes: int = 8 * 1024 * 1024
    # Request deadlines, head size, keep-alive and connection limits of the HTTP port ([http]).
    http: HttpSettings = dataclasses.field(default_factory=HttpSettings)

    def __post_init__(self) -> None:
        for name in ("grpc_port", "http_port"):
            port = getattr(self, name)
            if not 0 < port < 65536:
                raise ValueError(f"{name} must be within 1..65535, got {port}")
        for name in ("heartbeat_interval_ms", "down_after_ms", "sweep_interval_ms"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.load_publish_interval_ms < 0 or self.shutdown_grace_ms < 0:
            raise ValueError("load_publish_interval_ms and shutdown_grace_ms must not be negative")
        if self.down_after_ms <= self.heartbeat_interval_ms:
            raise ValueError("down_after_ms must be greater than heartbeat_interval_ms")
        if not 0.0 <= self.degraded_error_ratio <= 1.0:
            raise ValueError("degraded_error_ratio must be within 0..1")
        if self.database_url and not self.database_url.startswith(
                ("postgresql://", "postgres://", "postgresql+psycopg://", "sqlite:///")):
            raise ValueError("database_url must start with postgresql:// or sqlite:///")
        if not self.origin_url.startswith(("http://", "https://")):
            raise ValueError("origin_url must be an http(s) URL")
        if not self.operator_token:
            raise ValueError("operator_token must not be empty")
        for name in ("popularity_half_life_s", "plan_interval_s", "catalog_timeout_s", "run_now_hours",
                     "replica_load_share"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        for name in ("new_release_window_s", "plan_debounce_ms", "displace_margin"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if not 0.0 < self.fill_fraction <= 1.0:
            raise ValueError("fill_fraction must be in (0, 1]")
        if not 0.0 <= self.new_release_quantile <= 1.0:
            raise ValueError("new_release_quantile must be within 0..1")
        if self.max_json_body_bytes <= 0:
            raise ValueError("max_json_body_bytes must be positive")
        if self.leader_lease_ms < 300:
            raise ValueError("leader_lease_ms must be at least 300")
        if self.advertise_url and not self.advertise_url.startswith(("http://", "https://")):
            raise ValueError("advertise_url must be an http(s) URL")
        if self.log_level.lower() not in _LOG_LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(_LOG_LEVELS)}")


    @property
    def http_base_url(self) -> str:
        """Where the other replicas reach this one's HTTP API: advertise_url, or host and http_port."""
        if self.advertise_url:
            return self.advertise_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.http_port}"

    @property
    def database(self) -> Path | str:
        """What the registry opens: database_url, or the SQLite file db_path."""
        return self.database_url or self.db_path


def load(path: Path | str | None, environ: Mapping[str, str] | None = None) -> ControlPlaneConfig:
    """Load the config from ``path`` (None: defaults) and the environment. Raises ConfigError."""
    return load_config(ControlPlaneConfig, path, ENV_PREFIX, environ)
