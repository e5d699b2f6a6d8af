"""Running ffmpeg: which binary, the one-pass ladder encode command, progress from -progress."""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .config import IngestSettings
from .errors import FfmpegError
from .ladder import Rung

ProgressFn = Callable[[float], None]
PR_SET_PDEATHSIG = 1


def ffmpeg_exe(settings: IngestSettings | None = None) -> str:
    """Path of the ffmpeg to run: ``settings.ffmpeg``, else imageio-ffmpeg's bundled binary
    (which honours the IMAGEIO_FFMPEG_EXE environment variable). Raises FfmpegError."""
    if settings is not None and settings.ffmpeg:
        return settings.ffmpeg
    import imageio_ffmpeg

    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError as exc:
        raise FfmpegError(f"no ffmpeg binary: {exc}") from None


def encode_command(
    exe: str,
    source: Path,
    rungs: Sequence[Rung],
    settings: IngestSettings,
    out_dir: Path,
    fps: float,
    has_audio: bool,
) -> list[str]:
    """One ffmpeg invocation that encodes every rung and packages HLS fMP4 into ``out_dir``.

    Output: ``out_dir/{rung}/index.m3u8``, ``seg_00000.m4s``... and an init segment whose name
    ffmpeg chooses (see ingest, which renames it). Keyframes are forced every segment_seconds
    in every rung, so segments start at the same times in every rendition.
    """
    seg = settings.segment_seconds
    gop = max(1, round(fps * seg))
    n = len(rungs)
    graph = [f"[0:v]split={n}" + "".join(f"[s{i}]" for i in range(n))]
    # setsar=1: a 426x240 rung would otherwise get a non-square pixel aspect.
    graph += [f"[s{i}]scale={r.width}:{r.height},setsar=1,format=yuv420p[v{i}]" for i, r in enumerate(rungs)]
    cmd = [exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-nostats", "-progress", "pipe:1",
           "-y", "-i", str(source), "-filter_complex", ";".join(graph),
           "-map_metadata", "-1", "-map_chapters", "-1"]
    for i in range(n):
        cmd += ["-map", f"[v{i}]"] + (["-map", "0:a:0"] if has_audio else [])
    cmd += ["-c:v", "libx264", "-preset", settings.preset, "-sc_threshold", "0",
            "-g", str(gop), "-keyint_min", str(gop),
            # Time-based, so the grid holds for any frame rate; no '\,' inside (see VIDEO-NOTES).
            "-force_key_frames", f"expr:gte(t,n_forced*{seg})"]
    for i, r in enumerate(rungs):
        cmd += [f"-b:v:{i}", str(r.bitrate), f"-maxrate:v:{i}", str(r.maxrate),
                f"-bufsize:v:{i}", str(r.bufsize)]
    if has_audio:
        cmd += ["-c:a", "aac", "-b:a", settings.audio_bitrate, "-ac", "2"]
    return cmd + hls_output_args(settings, rungs, out_dir, has_audio)


def hls_output_args(settings: IngestSettings, rungs: Sequence[Rung], out_dir: Path,
                    has_audio: bool) -> list[str]:
    """The HLS fMP4 muxer options writing ``out_dir/{rung}/index.m3u8`` and ``seg_%05d.m4s``; the
    output streams are (video, audio) per rung in ``rungs`` order (video only without audio)."""
    stream_map = " ".join(
        (f"v:{i},a:{i}" if has_audio else f"v:{i}") + f",name:{r.name}" for i, r in enumerate(rungs)
    )
    return ["-f", "hls", "-hls_time", str(settings.segment_seconds), "-hls_playlist_type", "vod",
            "-hls_flags", "independent_segments", "-hls_segment_type", "fmp4", "-start_number", "0",
            "-hls_fmp4_init_filename", "init.mp4",
            "-hls_segment_filename", str(out_dir / "%v" / "seg_%05d.m4s"),
            "-master_pl_name", "master.m3u8", "-var_stream_map", stream_map,
            str(out_dir / "%v" / "index.m3u8")]


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec function making the child get SIGKILL when its parent dies (Linux), else None.

    A pipeline worker killed with SIGKILL cannot kill its ffmpeg; this makes the kernel do it.
    The libc function is looked up here, in the parent, so the child only makes one call.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

    return preexec


def run_ffmpeg(
    cmd: Sequence[str], duration_s: float, log_path: Path, progress: ProgressFn | None = None,
    die_with_parent: bool = False,
) -> None:
    """Run ``cmd`` (which writes ``-progress pipe:1``) to completion.

    Calls ``progress`` with the fraction (0..1) of ``duration_s`` encoded so far. ffmpeg's error
    output goes to ``log_path``. Raises FfmpegError with its last lines when it fails. The child
    is killed if this thread is interrupted (e.g. KeyboardInterrupt).
    """
    with open(log_path, "wb") as log:
        try:
            proc = subprocess.Popen(list(cmd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                                    preexec_fn=_die_with_parent() if die_with_parent else None)
        except OSError as exc:
            raise FfmpegError(f"cannot run {cmd[0]}: {exc}") from None
        with proc:  # closes the pipe and reaps the child on the way out
            try:
                assert proc.stdout is not None
                for raw in proc.stdout:
                    key, _, value = raw.decode("ascii", "replace").strip().partition("=")
                    # out_time_us is "N/A" (or negative) until the first frame is out.
                    if key == "out_time_us" and value.isdigit() and progress and duration_s > 0:
                        progress(min(1.0, int(value) / 1e6 / duration_s))
            except BaseException:
                proc.kill()
                raise
        code = proc.returncode
    if code != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
        raise FfmpegError(f"ffmpeg exited with status {code}: {' | '.join(tail) or 'no error output'}")
