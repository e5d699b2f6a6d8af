"""Web server configuration: one frozen dataclass, loaded from TOML and ``WEB_*`` variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from streamfleet.config import load_config
from streamfleet.httpguard import HttpSettings
from streamfleet.tokens import TokenSettings

ENV_PREFIX = "WEB"
STATIC_DIR = Path(__file__).resolve().parent / "static"


@dataclass(frozen=True)
class WebConfig:
    """Everything the web server needs; the defaults work on 127.0.0.1 next to a default fleet."""

    host: str = "127.0.0.1"
    port: int = 8070
    # The services the browser reaches through /api/origin, /api/steering and /api/control.
    origin_url: str = "http://127.0.0.1:8000"
    steering_url: str = "http://127.0.0.1:8080"
    control_plane_http: str = "http://127.0.0.1:8090"
    # Bearer token of the control plane's operator endpoints (/v1/fill/*). The web server adds it
    # only to requests of logged-in operators; the browser never sees it.
    operator_token: str = "streamfleet-dev-operator-token"
    # Bearer token of the appliances' POST /admin/drain (same rule as operator_token).
    appliance_admin_token: str = "streamfleet-dev-admin-token"
    # Poster cache (data_dir/posters); created at start-up.
    data_dir: Path = Path("data/web")
    # true: players fetch video through /api/relay (same origin as the pages); needed while
    # appliances and the origin send no CORS headers. false: players fetch steering's URLs directly.
    media_relay: bool = True
    # The watch page asks viewers to log in before it asks steering for URLs. Set false only when
    # steering runs with require_session = false (public playback).
    watch_requires_login: bool = True
    # Connect timeout towards appliances on the relay path: short, so a dead appliance fails fast
    # and the player moves to the next ranked URL.
    relay_connect_timeout_seconds: float = 1.0
    # Timeout of each upstream read/write (uploads stream through without a total limit).
    upstream_timeout_seconds: float = 30.0
    # Width of generated poster frames (height follows the aspect ratio).
    poster_width: int = 480
    # Fleet keys: posters are fetched from the origin with a token signed here.
    tokens: TokenSettings = field(default_factory=TokenSettings)
    # Cookie the origin sets at login (the session travels in it to every service).
    session_cookie: str = "sf_session"
    # How long a session's role, as the origin's GET /v1/me told it, is believed.
    identity_cache_seconds: float = 5.0
    # Pages and scripts to serve; empty means the files shipped in web/static.
    static_dir: str = ""
    log_level: str = "info"
    # One JSON access line per HTTP request (signed tokens redacted, the viewer's request id when
    # the browser sent one); false: none.
    access_log: bool = True
    # Request deadlines, head size, keep-alive and connection limits ([http] section). Uploads
    # relayed to the origin are bodies too: min_body_bytes_per_second bounds how slow they may be.
    http: HttpSettings = field(default_factory=HttpSettings)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is out of range")
        for name in ("origin_url", "steering_url", "control_plane_http"):
            url = getattr(self, name)
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{name} must be an http(s) URL, got {url!r}")
        if not 64 <= self.poster_width <= 1920:
            raise ValueError("poster_width must be within 64..1920")
        if self.relay_connect_timeout_seconds <= 0 or self.upstream_timeout_seconds <= 0:
            raise ValueError("timeouts must be positive")
        self.tokens.keyring()  # fail at start-up, naming the problem

    @property
    def static_root(self) -> Path:
        return Path(self.static_dir) if self.static_dir else STATIC_DIR

    @property
    def poster_dir(self) -> Path:
        return self.data_dir / "posters"


def load(path: Path | str | None, environ: Mapping[str, str] | None = None) -> WebConfig:
    """Load the config file (None: defaults) overlaid by WEB_* variables. Raises ConfigError."""
    return load_config(WebConfig, path, ENV_PREFIX, environ)
