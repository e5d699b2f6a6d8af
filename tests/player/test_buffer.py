from __future__ import annotations

import pytest

from player.buffer import PlaybackBuffer


def test_fast_downloads_never_stall_and_the_buffer_grows() -> None:
    b = PlaybackBuffer()
    for i in range(5):
        assert b.add(10.0 + i * 0.1, 4.0) == 0.0
    assert b.stalls == 0 and b.stall_s == 0.0
    assert b.level(10.4) == pytest.approx(20.0 - 0.4)


def test_a_segment_arriving_after_the_buffer_ran_dry_is_a_stall() -> None:
    b = PlaybackBuffer()
    assert b.level(0.0) == 0.0
    b.add(2.0, 4.0)  # playback starts at t=2 with 4 s buffered
    assert b.add(5.0, 4.0) == 0.0  # in time: 1 s left
    assert b.level(5.0) == pytest.approx(5.0)
    assert b.add(13.0, 4.0) == pytest.approx(3.0)  # ran dry at t=10, resumed at 13
    assert b.add(15.0, 4.0) == 0.0
    assert b.add(25.0, 4.0) == pytest.approx(4.0)  # dry at t=21
    assert b.stalls == 2
    assert b.stall_s == pytest.approx(7.0)
    assert b.position(25.0) == pytest.approx(16.0)
