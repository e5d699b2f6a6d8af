"""Origin configuration: one frozen dataclass, loaded from TOML and ORIGIN_* variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from streamfleet.config import load_config
from streamfleet.tokens import TokenSettings

ENV_PREFIX = "ORIGIN"


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
class OriginConfig:
    """Everything the origin server and the ingest command need."""

    host: str = "127.0.0.1"
    port: int = 8000
    # Catalog, object store and ingest scratch space all live here (one filesystem).
    data_dir: Path = Path("data/origin")
    # Base URL others use to reach this origin; empty means http://{host}:{port}.
    public_url: str = ""
    log_level: str = "info"
    tokens: TokenSettings = field(default_factory=TokenSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is out of range")
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
    def scratch_dir(self) -> Path:
        return self.data_dir / "tmp"


def load(path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> OriginConfig:
    """Load the origin config from ``path`` (None: defaults) and ORIGIN_* variables.

    Raises streamfleet.config.ConfigError naming the bad key.
    """
    return load_config(OriginConfig, path, ENV_PREFIX, environ)
