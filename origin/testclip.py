"""Generate a synthetic test clip (moving test pattern + tone) with the bundled ffmpeg."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

from .errors import FfmpegError
from .ffmpeg import ffmpeg_exe


def generate_test_clip(
    path: Path | str,
    seconds: float = 8,
    width: int = 854,
    height: int = 480,
    fps: int = 24,
    *,
    audio: bool = True,
) -> Path:
    """Write an H.264/AAC MP4 of ``seconds`` of lavfi testsrc2 (and a 440 Hz tone) to ``path``.

    The file appears atomically (written beside it, then renamed). Returns the path.
    Raises ValueError for impossible parameters and FfmpegError when ffmpeg fails.
    """
    if seconds <= 0 or width < 16 or height < 16 or fps < 1:
        raise ValueError(f"bad test clip parameters: {seconds}s {width}x{height} {fps}fps")
    out = Path(path)
    tmp = out.with_name(f".{out.name}.tmp")
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
           "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:beep_factor=4:sample_rate=48000:duration={seconds}"]
    cmd += ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", str(fps * 2)]
    if audio:
        cmd += ["-c:a", "aac", "-b:a", "128k"]
    cmd += ["-movflags", "+faststart", "-f", "mp4", str(tmp)]
    try:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            raise FfmpegError(f"ffmpeg could not make the test clip (status {done.returncode}): {tail}")
        os.replace(tmp, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return out
