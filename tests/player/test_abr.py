from __future__ import annotations

import pytest

from player.abr import AbrPolicy, RenditionChooser, ThroughputEstimate, ladder
from player.hls import Variant

LOW = Variant("240p/index.m3u8", 400_000, resolution=(426, 240))
MID = Variant("480p/index.m3u8", 1_400_000, resolution=(854, 480))
HIGH = Variant("720p/index.m3u8", 2_800_000, resolution=(1280, 720))
AUDIO = Variant("audio/index.m3u8", 128_000, codecs="mp4a.40.2")


def test_estimate_is_an_ewma_of_throughput() -> None:
    est = ThroughputEstimate(1_000_000, alpha=0.5)
    assert est.add(250_000, 1.0) == pytest.approx(0.5 * 2_000_000 + 0.5 * 1_000_000)
    assert est.add(0, 1.0) == pytest.approx(750_000)
    assert est.samples == 2
    # A download faster than the clock can tell is still finite.
    assert ThroughputEstimate(1, alpha=1.0).add(1000, 0.0) == pytest.approx(80_000_000)
    with pytest.raises(ValueError):
        ThroughputEstimate(0, 0.5)


def test_ladder_sorts_and_drops_audio_only_when_video_exists() -> None:
    assert ladder([HIGH, AUDIO, LOW, MID]) == (LOW, MID, HIGH)
    assert ladder([AUDIO]) == (AUDIO,)
    assert ladder([Variant("x.m3u8", 5)]) == (Variant("x.m3u8", 5),)


@pytest.mark.parametrize(
    ("initial", "expected"),
    [(5_000_000, HIGH), (3_400_000, MID), (3_500_000, HIGH), (1_000_000, LOW), (10, LOW)],
)
def test_first_choice_is_the_highest_within_estimate_times_safety(initial: float, expected: Variant) -> None:
    chooser = RenditionChooser(
        [LOW, HIGH, MID], ThroughputEstimate(initial, 0.3), AbrPolicy(safety_factor=0.8)
    )
    assert chooser.fitting() == expected


def test_switches_up_at_once_and_down_only_when_the_buffer_runs_low() -> None:
    est = ThroughputEstimate(1_000_000, alpha=1.0)
    chooser = RenditionChooser([LOW, MID, HIGH], est, AbrPolicy(safety_factor=0.8, downswitch_buffer_s=8))
    assert chooser.fitting() == LOW
    est.add(1_000_000, 1.0)  # 8 Mbit/s
    assert chooser.next(LOW, buffer_s=0) == HIGH
    est.add(100_000, 1.0)  # 800 kbit/s
    assert chooser.next(HIGH, buffer_s=20) == HIGH
    assert chooser.next(HIGH, buffer_s=7.9) == LOW


def test_policy_is_validated() -> None:
    with pytest.raises(ValueError):
        AbrPolicy(safety_factor=0)
    with pytest.raises(ValueError):
        AbrPolicy(ewma_alpha=1.5)
