"""Running ffmpeg: which binary, the ladder's filter graph and encoder options, progress, cancelling."""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from .config import IngestSettings
from .errors import FfmpegError, JobError
from .ladder import AUDIO, AUDIO_CHANNELS, Rung

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


def ladder_graph(rungs: Sequence[Rung]) -> str:
    """A filter graph feeding one decode of input 0 to every rung: outputs ``[v0]`` .. ``[vN-1]``."""
    n = len(rungs)
    graph = [f"[0:v]split={n}" + "".join(f"[s{i}]" for i in range(n))]
    # setsar=1: a 426x240 rung would otherwise get a non-square pixel aspect.
    graph += [f"[s{i}]scale={r.width}:{r.height},setsar=1,format=yuv420p[v{i}]" for i, r in enumerate(rungs)]
    return ";".join(graph)


def video_args(settings: IngestSettings, rung: Rung, fps: str, gop: int, first_frame: int,
               stream: str = "") -> list[str]:
    """Output options of one rung: constant ``fps``, x264 with a fixed GOP and keyframes forced on the
    absolute frame grid (frame ``first_frame`` of the title is this output's frame 0).

    ``stream`` is a stream index when one output file holds several rungs ("0" gives ``-b:v:0``).
    """
    spec = f":v:{stream}" if stream else ":v"
    return [f"-fps_mode{spec}", "cfr", f"-r{spec}", fps,
            f"-c{spec}", "libx264", f"-preset{spec}", settings.preset, f"-sc_threshold{spec}", "0",
            f"-g{spec}", str(gop), f"-keyint_min{spec}", str(gop),
            # No '\,' inside the expression (see VIDEO-NOTES).
            f"-force_key_frames{spec}", f"expr:eq(mod(n+{first_frame},{gop}),0)",
            f"-b{spec}", str(rung.bitrate), f"-maxrate{spec}", str(rung.maxrate),
            f"-bufsize{spec}", str(rung.bufsize)]


def input_args(source: str, start: str | None = None, length: str | None = None) -> list[str]:
    """Decoder options and the input: ``start`` and ``length`` seek on the input side (exact starts,
    nothing decoded past the end)."""
    # One decoder thread: decoding is a small share of a ladder encode, and frame threads only add
    # latency and threads next to the x264 encoders, which already keep every core busy.
    seek = ["-ss", start] if start is not None else []
    seek += ["-t", length] if length is not None else []
    return ["-threads", "1", *seek, "-i", source]


def chunk_command(exe: str, source: str, start: str, length: str, frames: int, first_frame: int,
                  fps: str, gop: int, rungs: Sequence[Rung], settings: IngestSettings,
                  outputs: Sequence[Path]) -> list[str]:
    """One ffmpeg that decodes a chunk of ``source`` once and encodes it into every rung.

    The chunk is ``length`` seconds from ``start``; exactly ``frames`` frames per rung;
    ``outputs[i]`` (mp4, video only) is rung i.
    """
    cmd = [exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-nostats", "-progress", "pipe:1", "-y",
           *input_args(source, start, length), "-filter_complex", ladder_graph(rungs)]
    for i, (rung, out) in enumerate(zip(rungs, outputs, strict=True)):
        cmd += ["-map", f"[v{i}]", "-map_metadata", "-1", "-map_chapters", "-1", "-frames:v", str(frames),
                *video_args(settings, rung, fps, gop, first_frame), "-f", "mp4", str(out)]
    return cmd


def audio_command(exe: str, source: str, bitrate: str, duration_s: float, output: Path) -> list[str]:
    """One ffmpeg encoding the source's first audio stream, once for the whole title, to AAC-LC in
    ``output`` (mp4), exactly ``duration_s`` long (the video's length).

    Audio that starts late or has holes is filled with silence and audio shorter than the video is
    padded, so the audio rendition covers every video segment; longer audio is cut.
    """
    # Only the audio stream is mapped: the video is demuxed past, never decoded.
    return [exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-nostats", "-progress", "pipe:1",
            "-y", "-i", source, "-map", "0:a:0", "-map_metadata", "-1",
            "-af", "aresample=async=1:first_pts=0,apad", "-t", f"{duration_s:.6f}",
            "-c:a", "aac", "-b:a", bitrate, "-ac", str(AUDIO_CHANNELS), "-f", "mp4", str(output)]


def hls_output_args(settings: IngestSettings, rungs: Sequence[Rung], out_dir: Path,
                    has_audio: bool) -> list[str]:
    """The HLS fMP4 muxer options writing ``out_dir/{rendition}/index.m3u8`` and ``seg_%05d.m4s``:
    output stream i is the video of ``rungs[i]``; after them, with ``has_audio``, the audio
    (its own rendition, ``out_dir/audio``). ffmpeg cuts every rendition on the same time grid."""
    stream_map = " ".join(f"v:{i},name:{r.name}" for i, r in enumerate(rungs))
    if has_audio:
        stream_map += f" a:0,name:{AUDIO}"
    return ["-f", "hls", "-hls_time", str(settings.segment_seconds), "-hls_playlist_type", "vod",
            "-hls_flags", "independent_segments", "-hls_segment_type", "fmp4", "-start_number", "0",
            "-hls_fmp4_init_filename", "init.mp4",
            "-hls_segment_filename", str(out_dir / "%v" / "seg_%05d.m4s"),
            "-master_pl_name", "master.m3u8", "-var_stream_map", stream_map,
            str(out_dir / "%v" / "index.m3u8")]


class Cancel:
    """Lets another thread stop a job: kills the ffmpeg it is running and any it starts later.

    Used when a worker's lease is lost and when an interrupted ``streamfleet ingest`` stops its
    workers. Once cancelled it stays cancelled.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen[bytes]] = set()
        self.reason = ""

    @property
    def cancelled(self) -> bool:
        return bool(self.reason)

    def cancel(self, reason: str) -> None:
        with self._lock:
            self.reason = self.reason or reason
            procs = list(self._procs)
        for proc in procs:
            proc.kill()  # a no-op for a process that has already been reaped

    def check(self) -> None:
        """Raise JobError once cancelled (called between steps that are not ffmpeg)."""
        if self.reason:
            raise JobError(f"cancelled: {self.reason}")

    def _started(self, proc: subprocess.Popen[bytes]) -> bool:
        with self._lock:
            if self.reason:
                return False
            self._procs.add(proc)
            return True

    def _finished(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._procs.discard(proc)


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
    die_with_parent: bool = False, cancel: Cancel | None = None,
) -> dict[str, str]:
    """Run ``cmd`` (which writes ``-progress pipe:1``) to completion; returns its last progress
    report (``frame``, ``out_time_us``...; empty when ``cmd`` writes none).

    Calls ``progress`` with the fraction (0..1) of ``duration_s`` encoded so far. ffmpeg's error
    output goes to ``log_path``. Raises FfmpegError with its last lines when it fails, JobError when
    ``cancel`` stopped it. The child is killed if this thread is interrupted (e.g. KeyboardInterrupt).
    """
    report: dict[str, str] = {}
    with open(log_path, "wb") as log:
        try:
            proc = subprocess.Popen(list(cmd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                                    preexec_fn=_die_with_parent() if die_with_parent else None)
        except OSError as exc:
            raise FfmpegError(f"cannot run {cmd[0]}: {exc}") from None
        if cancel is not None and not cancel._started(proc):
            proc.kill()
        with proc:  # closes the pipe and reaps the child on the way out
            try:
                assert proc.stdout is not None
                for raw in proc.stdout:
                    key, _, value = raw.decode("ascii", "replace").strip().partition("=")
                    report[key] = value
                    # out_time_us is "N/A" (or negative) until the first frame is out.
                    if key == "out_time_us" and value.isdigit() and progress and duration_s > 0:
                        progress(min(1.0, int(value) / 1e6 / duration_s))
            except BaseException:
                proc.kill()
                raise
            finally:
                if cancel is not None:
                    cancel._finished(proc)
        code = proc.returncode
    if cancel is not None:
        cancel.check()
    if code != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
        raise FfmpegError(f"ffmpeg exited with status {code}: {' | '.join(tail) or 'no error output'}")
    return report
