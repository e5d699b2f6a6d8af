"""Origin configuration: one frozen dataclass, loaded from TOML and ORIGIN_* variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from streamfleet.clientip import check_cidrs
from streamfleet.config import load_config
from streamfleet.httpguard import HttpSettings
from streamfleet.sessions import SessionSettings
from streamfleet.tokens import TokenSettings

ENV_PREFIX = "ORIGIN"
_DATABASE_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://", "sqlite:///")


def _default_video_bitrates() -> dict[str, str]:
    return {"1080p": "5000k", "720p": "2800k", "480p": "1400k", "360p": "800k", "240p": "400k"}


@dataclass(frozen=True)
class IngestSettings:
    """The ``[ingest]`` section: the encoding ladder and HLS packaging."""

    # Rungs to encode, by name ("720p" = 720 lines); rungs taller than the source are skipped.
    ladder: tuple[str, ...] = ("1080p", "720p", "480p", "240p")
    # Length of an HLS segment; keyframes are forced on this grid in every rendition.
    segment_seconds: int = 4
    # x264 preset: slower presets give smaller files for more CPU.
    preset: str = "veryfast"
    # Target video bitrate per rung name; rungs not listed are interpolated by pixel count.
    video_bitrates: Mapping[str, str] = field(default_factory=_default_video_bitrates)
    audio_bitrate: str = "128k"
    # Empty: the bundled ffmpeg of imageio-ffmpeg (which honours IMAGEIO_FFMPEG_EXE).
    ffmpeg: str = ""

    def __post_init__(self) -> None:
        if self.segment_seconds < 1:
            raise ValueError("segment_seconds must be at least 1")
        if not self.ladder:
            raise ValueError("ladder must name at least one rung")
        for rung in self.ladder:
            if not _is_rung_name(rung):
                raise ValueError(f"ladder rung {rung!r} is not like '720p'")
        for rung, rate in self.video_bitrates.items():
            if not _is_rung_name(rung) or parse_bitrate(rate) <= 0:
                raise ValueError(f"video_bitrates: bad entry {rung!r} = {rate!r}")
        if parse_bitrate(self.audio_bitrate) <= 0:
            raise ValueError(f"audio_bitrate: bad value {self.audio_bitrate!r}")


def _is_rung_name(name: str) -> bool:
    return name.endswith("p") and name[:-1].isdigit() and 16 <= int(name[:-1]) <= 4320


def parse_bitrate(text: str) -> int:
    """Bits per second of "1400k" / "5M" / "96000"; 0 when unparseable."""
    text = text.strip().lower()
    scale = {"k": 1000, "m": 1_000_000}.get(text[-1:], 1)
    digits = text[:-1] if scale != 1 else text
    try:
        value = float(digits)
    except ValueError:
        return 0
    return int(value * scale) if value > 0 else 0


@dataclass(frozen=True)
class AccountSettings:
    """The ``[accounts]`` section: sign-up, password hashing and login throttling."""

    # Roles anyone may sign up with; operators are made with ``streamfleet origin account``.
    signup_roles: tuple[str, ...] = ("viewer", "creator")
    min_password_length: int = 10
    # argon2id cost; the defaults are argon2-cffi's (RFC 9106 low-memory profile).
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4
    # Failed logins tolerated per account and per client IP within the window; then 429.
    max_failures_per_account: int = 5
    max_failures_per_ip: int = 5
    failure_window_seconds: int = 300

    def __post_init__(self) -> None:
        for role in self.signup_roles:
            if role not in ("viewer", "creator", "operator"):
                raise ValueError(f"signup_roles: unknown role {role!r}")
        if self.max_failures_per_account < 1 or self.max_failures_per_ip < 1:
            raise ValueError("max_failures_* must be at least 1")


@dataclass(frozen=True)
class UploadSettings:
    """The ``[uploads]`` section: tus resumable uploads."""

    # Largest upload accepted (bytes); 0 means no limit.
    max_size: int = 50 * 1024**3
    # Unfinished uploads untouched this long are removed.
    expire_seconds: int = 86400


@dataclass(frozen=True)
class PipelineSettings:
    """The ``[pipeline]`` section: the chunked encode job queue."""

    # Workers the server runs in-process; 0 = only separate ``streamfleet origin worker`` processes.
    workers: int = 1
    # Chunk length; rounded up to a multiple of ``[ingest] segment_seconds``.
    chunk_seconds: int = 16
    # A job whose worker has not heartbeated for this long is handed to another worker.
    lease_seconds: float = 30.0
    # Attempts before a job (and its title) is marked failed.
    max_attempts: int = 3
    # Idle workers poll the queue this often.
    poll_seconds: float = 0.5

    def __post_init__(self) -> None:
        if self.workers < 0 or self.chunk_seconds < 1 or self.lease_seconds <= 0 or self.max_attempts < 1:
            raise ValueError("workers >= 0, chunk_seconds >= 1, lease_seconds > 0, max_attempts >= 1")


@dataclass(frozen=True)
class OriginConfig:
    """Everything the origin server and the ingest command need."""

    host: str = "127.0.0.1"
    port: int = 8000
    # Ingest scratch space, uploads and pipeline work live here; so do the catalog, accounts and
    # job queue (SQLite files) and the objects unless the two URLs below move them elsewhere.
    data_dir: Path = Path("data/origin")
    # Catalog, accounts and job queue in one PostgreSQL database ("postgresql://user:pass@host/db")
    # or one SQLite file ("sqlite:////path/origin.sqlite3"). Empty: three SQLite files in data_dir.
    # Every origin serve/worker process that shares it shares the titles, accounts and jobs.
    database_url: str = ""
    # Where title files live: "s3://bucket/prefix?endpoint=http://127.0.0.1:9000" (credentials from
    # AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), or "file:///path". Empty: data_dir/objects.
    object_store_url: str = ""
    # Base URL others use to reach this origin; empty means http://{host}:{port}.
    public_url: str = ""
    log_level: str = "info"
    # One JSON access line per HTTP request (tokens redacted); false: none.
    access_log: bool = True
    tokens: TokenSettings = field(default_factory=TokenSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    sessions: SessionSettings = field(default_factory=SessionSettings)
    accounts: AccountSettings = field(default_factory=AccountSettings)
    uploads: UploadSettings = field(default_factory=UploadSettings)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    # CIDRs of proxies (the web server, a load balancer) whose X-Forwarded-For is believed, so
    # login throttling counts and the access log names each viewer, not the proxy; empty: the peer
    # address is the client.
    trusted_proxies: tuple[str, ...] = ()
    # Largest JSON request body (sign-up, login, title edits); larger ones get a 413.
    max_json_body_bytes: int = 64 * 1024
    # Request deadlines, head size, keep-alive and connection limits ([http] section). tus
    # uploads are bodies: min_body_bytes_per_second and body_idle_timeout_seconds bound them.
    http: HttpSettings = field(default_factory=HttpSettings)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is out of range")
        check_cidrs(self.trusted_proxies)
        if self.max_json_body_bytes < 1024:
            raise ValueError("max_json_body_bytes must be at least 1024")
        if self.database_url and not self.database_url.startswith(_DATABASE_SCHEMES):
            raise ValueError("database_url must start with postgresql:// or sqlite:///")
        if self.object_store_url and not self.object_store_url.startswith(("s3://", "file:///")):
            raise ValueError("object_store_url must start with s3:// or file:///")
        self.tokens.keyring()  # fail at start-up, naming the problem, not at the first request

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"

    @property
    def objects_dir(self) -> Path:
        return self.data_dir / "objects"

    @property
    def catalog_path(self) -> Path:
        return self.data_dir / "catalog.sqlite3"

    @property
    def catalog_db(self) -> Path | str:
        """The catalog's database: database_url, or its SQLite file."""
        return self.database_url or self.catalog_path

    @property
    def accounts_db(self) -> Path | str:
        return self.database_url or self.accounts_path

    @property
    def jobs_db(self) -> Path | str:
        return self.database_url or self.jobs_path

    @property
    def accounts_path(self) -> Path:
        return self.data_dir / "accounts.sqlite3"

    @property
    def jobs_path(self) -> Path:
        return self.data_dir / "jobs.sqlite3"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def sources_dir(self) -> Path:
        return self.data_dir / "sources"

    @property
    def work_dir(self) -> Path:
        return self.data_dir / "work"


def load(path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> OriginConfig:
    """Load the origin config from ``path`` (None: defaults) and ORIGIN_* variables.

    Raises streamfleet.config.ConfigError naming the bad key.
    """
    return load_config(OriginConfig, path, ENV_PREFIX, environ)
