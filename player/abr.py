"""Adaptive bitrate: a throughput estimate and the rendition choice made from it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .hls import Variant

_AUDIO_CODECS = ("mp4a", "ac-3", "ec-3", "opus", "flac")


@dataclass(frozen=True, slots=True)
class AbrPolicy:
    """How the player picks renditions."""

    # Share of the estimated throughput a rendition's peak bandwidth may use.
    safety_factor: float = 0.8
    # Weight of the newest throughput sample in the moving average (1: only the last one counts).
    ewma_alpha: float = 0.3
    # Step down only while less than this much media (seconds) is buffered: a full buffer rides
    # out one slow segment, and it keeps the choice stable on fast links.
    downswitch_buffer_s: float = 8.0

    def __post_init__(self) -> None:
        if not 0 < self.safety_factor <= 1 or not 0 < self.ewma_alpha <= 1:
            raise ValueError("safety_factor and ewma_alpha must be in (0, 1]")


class ThroughputEstimate:
    """Exponentially weighted moving average of measured throughput, bits per second.

    Not safe for concurrent use; one per playback.
    """

    def __init__(self, initial_bps: float, alpha: float) -> None:
        if initial_bps <= 0:
            raise ValueError("initial_bps must be positive")
        self.bps = float(initial_bps)
        self._alpha = alpha
        self.samples = 0

    def add(self, nbytes: int, seconds: float) -> float:
        """Fold in one download of ``nbytes`` that took ``seconds``; returns the new estimate."""
        # A floor on the time: a download faster than the clock's resolution is not infinitely fast.
        sample = nbytes * 8 / max(seconds, 1e-4)
        self.bps = self._alpha * sample + (1 - self._alpha) * self.bps
        self.samples += 1
        return self.bps


def ladder(variants: Sequence[Variant]) -> tuple[Variant, ...]:
    """Playable variants, lowest bandwidth first. Audio-only entries are dropped when video exists."""
    video = [v for v in variants if not _audio_only(v)]
    chosen = video or list(variants)
    return tuple(sorted(chosen, key=lambda v: (v.bandwidth, v.uri)))


def _audio_only(v: Variant) -> bool:
    if v.resolution is not None or not v.codecs:
        return False
    return all(c.strip().startswith(_AUDIO_CODECS) for c in v.codecs.split(","))


class RenditionChooser:
    """Chooses the rendition of every segment from the estimate and the buffer level."""

    def __init__(self, variants: Sequence[Variant], estimate: ThroughputEstimate, policy: AbrPolicy) -> None:
        self.ladder = ladder(variants)
        if not self.ladder:
            raise ValueError("no variants to choose from")
        self._estimate = estimate
        self._policy = policy

    def fitting(self) -> Variant:
        """The highest rendition within estimate x safety factor; the lowest when none fits."""
        budget = self._estimate.bps * self._policy.safety_factor
        best = self.ladder[0]
        for v in self.ladder:
            if v.bandwidth <= budget:
                best = v
        return best

    def next(self, current: Variant, buffer_s: float) -> Variant:
        """The rendition for the next segment, given the current one and the seconds buffered."""
        target = self.fitting()
        if target.bandwidth > current.bandwidth:
            return target
        if target.bandwidth < current.bandwidth and buffer_s < self._policy.downswitch_buffer_s:
            return target
        return current
