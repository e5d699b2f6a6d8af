"""Poster frames: a JPEG of the requested width taken from fMP4 bytes, or a clear error."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import av
import imageio_ffmpeg
import pytest

from web.errors import PosterError
from web.frames import poster_jpeg


@pytest.fixture(scope="module")
def fmp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path: Path = tmp_path_factory.mktemp("frames") / "clip.mp4"
    argv = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=24:duration=3",
            "-c:v", "libx264", "-preset", "ultrafast", "-g", "24",
            "-movflags", "frag_keyframe+empty_moov", "-f", "mp4", str(path)]
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, timeout=60)
    return path.read_bytes()


def test_poster_is_a_jpeg_of_the_asked_width(fmp4: bytes) -> None:
    jpeg = poster_jpeg(fmp4, b"", 160)
    assert jpeg[:2] == b"\xff\xd8"
    with av.open(io.BytesIO(jpeg), mode="r") as image:
        frame = next(image.decode(video=0))
    assert (frame.width, frame.height) == (160, 90)


def test_bytes_without_video_are_refused() -> None:
    with pytest.raises(PosterError):
        poster_jpeg(b"not an mp4 at all", b"", 160)
