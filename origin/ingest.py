"""Ingest: probe a source, encode the ladder in one ffmpeg pass, package, verify, store, catalog.

All or nothing: a title becomes visible ("ready") only after every file is stored; on any
failure the scratch directory, stored objects and catalog rows of the title are removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamfleet.addressing import INIT_SEGMENT, AddressError, make_key, master_key, segment_name, slugify

from .catalog import Catalog, FileInfo, Rendition
from .config import OriginConfig
from .errors import IngestError, OriginError, TitleExists
from .ffmpeg import ProgressFn, encode_command, ffmpeg_exe, run_ffmpeg
from .ladder import plan_ladder
from .packaging import Package, package
from .probe import SourceInfo, check_segment, probe_source
from .store import open_object_store

log = logging.getLogger(__name__)

# Share of the progress bar spent encoding; the rest is verifying and storing.
ENCODE_SHARE = 0.9


@dataclass(frozen=True)
class IngestResult:
    title: str
    name: str
    renditions: tuple[Rendition, ...]
    # Media segments per rendition (every rendition has the same number).
    segments: int
    duration_s: float
    files: int
    bytes: int

    def summary(self) -> dict[str, Any]:
        """The CLI's one-line JSON result."""
        return {"title": self.title, "renditions": [r.name for r in self.renditions],
                "segments": self.segments, "duration_s": self.duration_s}


def title_id_for(title_name: str, title_id: str | None) -> str:
    """``title_id`` if valid, else one derived from the name. Raises IngestError."""
    try:
        if title_id is None:
            return slugify(title_name)
        return master_key(title_id).title
    except AddressError:
        wanted = f"title id {title_id!r}" if title_id is not None else f"a title id from {title_name!r}"
        raise IngestError(f"invalid {wanted}: use 1-63 lowercase letters, digits and '-'") from None


def sha256_file(path: Path) -> tuple[int, str]:
    """(size, sha256 hex) of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _verify(pkg: Package, source: SourceInfo) -> None:
    """Every rendition's init + first segment decodes at the rung's size from a keyframe."""
    shortfall = source.duration_s - pkg.duration_s
    if shortfall > max(1.0, 0.05 * source.duration_s):
        raise IngestError(
            f"cannot read {source.path}: truncated or damaged, only {pkg.duration_s:.1f} s of its "
            f"{source.duration_s:.1f} s decode"
        )
    for r in pkg.renditions:
        init = pkg.files[make_key(pkg.title, r.rung.name, INIT_SEGMENT)].read_bytes()
        first = pkg.files[make_key(pkg.title, r.rung.name, segment_name(0))].read_bytes()
        check = check_segment(init, first)
        if (check.width, check.height) != (r.rung.width, r.rung.height) or not check.starts_with_keyframe:
            raise IngestError(f"rendition {r.rung.name}: first segment is {check.width}x{check.height}, "
                              f"keyframe={check.starts_with_keyframe}; expected "
                              f"{r.rung.width}x{r.rung.height} starting on a keyframe")


def ingest(
    config: OriginConfig,
    source_path: Path | str,
    title_name: str,
    title_id: str | None = None,
    progress: ProgressFn | None = None,
    clock: Callable[[], float] = time.time,
) -> IngestResult:
    """Ingest ``source_path`` as a title named ``title_name`` (id derived from it when None).

    ``progress`` is called with the fraction done (0..1). Blocks until done; runs one ffmpeg
    child process. Raises IngestError (not a video, duplicate id, encode failure...) and then
    leaves nothing behind: no objects, no catalog rows, no scratch files.
    """
    source = Path(source_path)
    report: ProgressFn = progress or (lambda fraction: None)
    tid = title_id_for(title_name, title_id)
    info = probe_source(source)
    rungs = plan_ladder(config.ingest, info.width, info.height, info.aspect)
    exe = ffmpeg_exe(config.ingest)
    store = open_object_store(config.object_store_url, config.objects_dir)
    with contextlib.closing(store), Catalog(config.catalog_db, clock) as catalog:
        try:
            catalog.reserve_title(tid, title_name)
        except TitleExists as exc:
            raise IngestError(f"{exc}; delete it first (streamfleet origin delete {tid})") from None
        started = time.monotonic()
        log.info("ingest started", extra={"title": tid, "source": str(source),
                                          "ladder": [r.name for r in rungs], "has_audio": info.has_audio})
        work: Path | None = None
        try:
            config.scratch_dir.mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix=f"ingest-{tid}-", dir=config.scratch_dir))
            out = work / "hls"
            for rung in rungs:
                (out / rung.name).mkdir(parents=True)
            cmd = encode_command(exe, source, rungs, config.ingest, out, float(info.fps), info.has_audio)
            run_ffmpeg(cmd, info.duration_s, work / "ffmpeg.log", lambda f: report(f * ENCODE_SHARE))
            pkg = package(out, tid, rungs, info.fps, info.has_audio)
            _verify(pkg, info)
            infos: list[FileInfo] = []
            for n, (key, path) in enumerate(sorted(pkg.files.items(), key=lambda kv: kv[0].cache_key)):
                size, digest = sha256_file(path)
                store.move_file(key, path)
                infos.append(FileInfo(key.cache_key, size, digest))
                report(ENCODE_SHARE + (1 - ENCODE_SHARE) * (n + 1) / len(pkg.files))
            renditions = tuple(Rendition(r.rung.name, r.rung.width, r.rung.height, r.bandwidth)
                               for r in pkg.renditions)
            catalog.publish_title(tid, pkg.duration_s, renditions, infos)
        except BaseException as exc:
            # Also on KeyboardInterrupt: a half-ingested title must not survive.
            store.delete_title(tid)
            catalog.delete_title(tid)
            log.warning("ingest failed", extra={"title": tid, "error": str(exc)})
            if isinstance(exc, IngestError):
                raise
            if isinstance(exc, OriginError | OSError):
                raise IngestError(f"ingest of {source} failed: {exc}") from exc
            raise
        finally:
            if work is not None:
                shutil.rmtree(work, ignore_errors=True)
    result = IngestResult(tid, title_name, renditions, pkg.segments, pkg.duration_s, len(infos),
                          sum(i.size for i in infos))
    log.info("ingest done", extra={"title": tid, "seconds": round(time.monotonic() - started, 2),
                                   "files": result.files, "bytes": result.bytes})
    report(1.0)
    return result


def delete_title(config: OriginConfig, title_id: str) -> bool:
    """Remove a title's objects, catalog rows, pipeline jobs, scratch files and uploaded source (any
    status); returns False if it had neither objects nor catalog rows."""
    from .jobs import JobQueue  # the pipeline's leftovers: queued jobs, scratch files, the source

    tid = title_id_for(title_id, title_id)
    with contextlib.closing(open_object_store(config.object_store_url, config.objects_dir)) as store:
        removed_objects = store.delete_title(tid)
    with Catalog(config.catalog_db) as catalog:
        removed_rows = catalog.delete_title(tid)
    if config.database_url or config.jobs_path.exists():
        queue = JobQueue(config.jobs_db)
        try:
            queue.delete_title(tid)
        finally:
            queue.close()
    shutil.rmtree(config.work_dir / tid, ignore_errors=True)
    (config.sources_dir / f"{tid}.src").unlink(missing_ok=True)
    return removed_objects or removed_rows
