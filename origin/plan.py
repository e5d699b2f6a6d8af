"""What the pipeline plans for a title (plan.json), and how a job's failure is judged.

A failure caused by the source itself (truncated, damaged) is recorded with the prefix
``unusable source: `` and not retried; the ingest command turns it into "cannot read FILE: ...".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .errors import SourceError
from .ladder import Rung

# A source that decodes to less than this much of its announced duration is truncated or damaged.
SHORTFALL_S, SHORTFALL_SHARE = 1.0, 0.05


@dataclass(frozen=True)
class Plan:
    """How a title is cut and encoded; written by ``prepare`` as plan.json in its work dir."""

    source: str
    fps: str  # a Fraction as "num/den"
    duration_s: float
    has_audio: bool
    rungs: tuple[Rung, ...]
    gop: int  # frames per segment
    chunk_frames: int  # frames per chunk (a multiple of gop)
    chunks: int

    @property
    def total_frames(self) -> int:
        return max(1, round(self.duration_s * Fraction(self.fps)))

    def chunk_start(self, index: int) -> Fraction:
        return Fraction(index * self.chunk_frames) / Fraction(self.fps)

    @staticmethod
    def load(path: Path) -> Plan:
        data = json.loads(path.read_text())
        data["rungs"] = tuple(Rung(**r) for r in data["rungs"])
        return Plan(**data)


# Job errors that start with this name a problem of the source, not of the encode (see job_error).
UNUSABLE_SOURCE = "unusable source: "


def job_error(exc: Exception) -> tuple[str, bool]:
    """How a failed attempt is recorded: (error text, whether another attempt may help)."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, SourceError):
        return UNUSABLE_SOURCE + text, False
    return text, True


def source_problem(error: str) -> str | None:
    """The reason a job error gives for the source being unusable; None for any other error."""
    return error[len(UNUSABLE_SOURCE):] if error.startswith(UNUSABLE_SOURCE) else None


def too_short(decoded_s: float, expected_s: float) -> bool:
    return expected_s - decoded_s > max(SHORTFALL_S, SHORTFALL_SHARE * expected_s)


def damaged(decoded_s: float, expected_s: float) -> SourceError:
    return SourceError(f"truncated or damaged, only {decoded_s:.1f} s of its {expected_s:.1f} s decode")
