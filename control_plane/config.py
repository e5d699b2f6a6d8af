"""Control-plane configuration: one frozen dataclass, loaded from TOML + CONTROL_PLANE_* env vars."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from streamfleet.config import load_config

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
    # SQLite file of the appliance registry; its directory is created at start-up.
    db_path: Path = Path("data/control_plane/registry.sqlite3")
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
    # How often missed heartbeats are looked for (and dirty registry rows written to SQLite).
    sweep_interval_ms: int = 200
    # Load-only changes (disk, egress, connections) publish a new fleet version at most this often.
    load_publish_interval_ms: int = 5000
    # On SIGTERM, in-flight RPCs get this long to finish before they are cancelled.
    shutdown_grace_ms: int = 5000

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
        if self.log_level.lower() not in _LOG_LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(_LOG_LEVELS)}")


def load(path: Path | str | None, environ: Mapping[str, str] | None = None) -> ControlPlaneConfig:
    """Load the config from ``path`` (None: defaults) and the environment. Raises ConfigError."""
    return load_config(ControlPlaneConfig, path, ENV_PREFIX, environ)
