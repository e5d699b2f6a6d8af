from __future__ import annotations

import pytest

from origin.config import IngestSettings
from origin.ladder import bitrate_for, plan_ladder

SETTINGS = IngestSettings()


def names(width: int, height: int, settings: IngestSettings = SETTINGS) -> list[str]:
    return [r.name for r in plan_ladder(settings, width, height)]


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1920, 1080), ["1080p", "720p", "480p", "240p"]),
        ((3840, 2160), ["1080p", "720p", "480p", "240p"]),
        ((1280, 720), ["720p", "480p", "240p"]),
        ((854, 480), ["480p", "240p"]),
        ((640, 360), ["360p", "240p"]),  # one configured rung fits: the source height is added
        ((500, 301), ["300p", "240p"]),
        ((426, 240), ["240p"]),
        ((320, 180), ["180p"]),  # nothing fits: the source height
        ((176, 145), ["144p"]),  # rounded down to even, never up
    ],
)
def test_rungs_never_upscale(size: tuple[int, int], expected: list[str]) -> None:
    assert names(*size) == expected


def test_sizes_are_even_and_keep_aspect() -> None:
    rungs = plan_ladder(SETTINGS, 1920, 1080)
    assert [(r.width, r.height) for r in rungs] == [(1920, 1080), (1280, 720), (854, 480), (426, 240)]
    # 720x480 with 32:27 pixels is 16:9 on screen.
    wide = plan_ladder(SETTINGS, 720, 480, aspect=720 * 32 / 27 / 480)
    assert (wide[0].width, wide[0].height) == (854, 480)
    assert all(r.width % 2 == 0 and r.height % 2 == 0 for r in rungs + wide)


def test_bitrates_from_config_or_scaled() -> None:
    rates = [r.bitrate for r in plan_ladder(SETTINGS, 1920, 1080)]
    assert rates == [5_000_000, 2_800_000, 1_400_000, 400_000]
    assert bitrate_for(SETTINGS, 360) == 800_000
    assert 400_000 < bitrate_for(SETTINGS, 300) < 800_000
    rung = plan_ladder(SETTINGS, 854, 480)[0]
    assert rung.maxrate > rung.bitrate and rung.bufsize > rung.bitrate


def test_custom_ladder() -> None:
    settings = IngestSettings(ladder=("720p", "360p"))
    assert names(1920, 1080, settings) == ["720p", "360p"]
