"""The encoding ladder: which renditions a source gets, their sizes and bitrates."""

from __future__ import annotations

from dataclasses import dataclass

from .config import IngestSettings, parse_bitrate

# Below this height a second, smaller rendition is not worth encoding.
MIN_HEIGHT_FOR_TWO = 240
# A source's sound is one rendition of its own, shared by every video rung (CMAF: one media type
# per track): AAC-LC stereo, on the video's segment grid.
AUDIO = "audio"
AUDIO_CHANNELS = 2


@dataclass(frozen=True)
class Rung:
    """One rendition to encode: ``name`` is "{height}p"; bitrates are bits per second."""

    name: str
    width: int
    height: int
    bitrate: int

    @property
    def maxrate(self) -> int:
        # A capped VBR: peaks stay near the target so a rung's bandwidth stays predictable.
        return self.bitrate * 107 // 100

    @property
    def bufsize(self) -> int:
        return self.bitrate * 3 // 2


def _even(value: float) -> int:
    return max(2, int(round(value / 2.0)) * 2)


def rung_height(name: str) -> int:
    return int(name[:-1])


def bitrate_for(settings: IngestSettings, height: int) -> int:
    """Configured bitrate of the "{height}p" rung, else scaled by pixel count from the nearest one."""
    rates = {rung_height(k): parse_bitrate(v) for k, v in settings.video_bitrates.items()}
    if height in rates:
        return rates[height]
    if not rates:
        return max(100_000, height * height * 7)  # about 400 kb/s at 240 lines
    nearest = min(rates, key=lambda h: (abs(h - height), h))
    return max(50_000, int(rates[nearest] * (height / nearest) ** 2))


def plan_ladder(settings: IngestSettings, width: int, height: int, aspect: float | None = None) -> list[Rung]:
    """Rungs for a ``width`` x ``height`` source, tallest first. Never upscales.

    ``aspect`` is the display aspect ratio (None: width / height, i.e. square pixels). Configured
    rungs no taller than the source are used; when that leaves fewer than two and the source is at
    least 240 lines, a rung at the source height is added; when none fit, the only rung is the
    source height rounded to even.
    """
    ratio = aspect if aspect and aspect > 0 else width / height
    source_height = max(2, height - height % 2)  # rounded down to even: never upscale
    heights = sorted({rung_height(r) for r in settings.ladder if rung_height(r) <= height}, reverse=True)
    if not heights:
        heights = [source_height]
    elif len(heights) < 2 and height >= MIN_HEIGHT_FOR_TWO and source_height not in heights:
        heights = [source_height, *heights]
    return [Rung(f"{h}p", _even(h * ratio), h, bitrate_for(settings, h)) for h in heights]
