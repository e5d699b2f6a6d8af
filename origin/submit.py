"""Turn a finished upload into a queued title: validate it as a video, catalog it, enqueue the pipeline."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from streamfleet.addressing import AddressError, master_key, slugify

from .catalog import QUEUED, Catalog, TitleMeta
from .config import OriginConfig
from .errors import IngestError, TitleExists, TitleNotFound
from .jobs import JobQueue, NewJob
from .probe import probe_source

log = logging.getLogger(__name__)

# The first job of every title's pipeline (see origin.pipeline).
PREPARE = "prepare"
MAX_TEXT = 4000


def title_id_for(title_name: str, title_id: str | None) -> str:
    """``title_id`` if valid, else one derived from the name. Raises IngestError."""
    try:
        if title_id is None:
            return slugify(title_name)
        return master_key(title_id).title
    except AddressError:
        wanted = f"title id {title_id!r}" if title_id is not None else f"a title id from {title_name!r}"
        raise IngestError(f"invalid {wanted}: use 1-63 lowercase letters, digits and '-'") from None


def split_list(text: str) -> tuple[str, ...]:
    """"a, b ,c" -> ("a", "b", "c"); tags are lowercased by the caller when it wants."""
    return tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))


def meta_from_upload(metadata: Mapping[str, str], owner: str) -> TitleMeta:
    """Catalog metadata from tus upload metadata (description, tags, cast, release_date)."""
    return TitleMeta(
        description=metadata.get("description", "")[:MAX_TEXT],
        tags=tuple(t.lower() for t in split_list(metadata.get("tags", "")))[:50],
        cast=split_list(metadata.get("cast", ""))[:100],
        release_date=metadata.get("release_date", "")[:10],
        owner=owner,
    )


def choose_title_id(catalog: Catalog, name: str, wanted: str | None) -> str:
    """``wanted`` (must be free) or a slug of ``name``, suffixed when taken. Raises IngestError."""
    base = tid = title_id_for(name, wanted or None)
    if wanted:
        return tid
    while _exists(catalog, tid):
        tid = f"{base[:56]}-{secrets.token_hex(3)}"
    return tid


def _exists(catalog: Catalog, tid: str) -> bool:
    try:
        catalog.get_title(tid)
    except TitleNotFound:
        return False
    return True


def submit_source(config: OriginConfig, catalog: Catalog, queue: JobQueue, source: Path, display_name: str,
                  name: str, meta: TitleMeta, title_id: str | None = None) -> str:
    """Validate ``source`` as a video, move it to the sources dir, catalog it as "queued" and enqueue
    its pipeline; returns the title id. Raises IngestError (the message names ``display_name``,
    never a server path); ``source`` is then left where it was, for the caller to remove.
    """
    try:
        info = probe_source(source)
    except IngestError as exc:
        raise IngestError(str(exc).replace(str(source), display_name)) from None
    tid = choose_title_id(catalog, name, title_id)
    try:
        catalog.reserve_title(tid, name, QUEUED, meta)
    except TitleExists as exc:
        raise IngestError(str(exc)) from None
    try:
        config.sources_dir.mkdir(parents=True, exist_ok=True)
        dest = config.sources_dir / f"{tid}.src"
        os.replace(source, dest)
        queue.enqueue([NewJob(tid, PREPARE, {"source": str(dest)})])
    except BaseException:
        catalog.delete_title(tid)
        raise
    log.info("title queued", extra={"title": tid, "width": info.width, "height": info.height,
                                    "duration_s": info.duration_s})
    return tid
