"""The outcome of one playback, as a plain dataclass (``to_dict()`` gives JSON-ready data)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class PlayReport:
    title: str
    # Site steering placed the client in, and why ("prefix" or "default"); "" if steering failed.
    site: str = ""
    site_reason: str = ""
    # The rendition that served the most segments, and every rendition used, in order of first use.
    rendition: str = ""
    renditions: list[str] = field(default_factory=list)
    # From asking steering to the first media segment in hand (0.0 when playback never started).
    startup_ms: float = 0.0
    # Every byte downloaded: playlists, init and media segments.
    bytes: int = 0
    # Media segments downloaded, and of them how many each appliance (or "origin") served. With
    # separate audio these are the video segments: each plays with the audio segment of its number.
    segments: int = 0
    segments_total: int = 0
    segments_by_appliance: dict[str, int] = field(default_factory=dict)
    # The audio rendition played beside the video ("" when the title has none of its own), and its
    # media segments downloaded, in all and by who served them.
    audio: str = ""
    audio_segments: int = 0
    audio_segments_by_appliance: dict[str, int] = field(default_factory=dict)
    # Every successful request (playlists and init segments too), by who served it.
    requests_by_appliance: dict[str, int] = field(default_factory=dict)
    # Bytes of every successful request, by who served it.
    bytes_by_appliance: dict[str, int] = field(default_factory=dict)
    # Responses saying X-Cache: HIT / MISS; hit_ratio = hits / (hits + misses), 0.0 when none said.
    hits: int = 0
    misses: int = 0
    hit_ratio: float = 0.0
    # Times the simulated buffer ran dry, and for how long in total.
    stalls: int = 0
    stall_ms: float = 0.0
    # Requests retried at the next ranked URL after an error.
    failovers: int = 0
    # True: every file matched the origin's size and sha256; False: one did not (or the catalog
    # could not be read); None: not checked (no origin URL given).
    bytes_verified: bool | None = None
    # Media seconds downloaded and wall time of the whole playback.
    media_s: float = 0.0
    elapsed_ms: float = 0.0
    # Media seconds played by the time the playback ended (all of it only with pacing + play_out;
    # without pacing the clock is simulated and downloads finish long before playback would).
    played_s: float = 0.0
    # The viewer stopped watching before the end (play(stop=...)); ok then means "no error so far".
    stopped: bool = False
    # Ranked sources steering gave, by appliance id ("origin" for the origin).
    ranked: list[str] = field(default_factory=list)
    # Every failed request and the reason playback stopped, if it did.
    errors: list[str] = field(default_factory=list)
    ok: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
