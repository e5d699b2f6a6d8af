"""Content addressing: the one mapping from (title, rendition, file) to URL path and cache key.

Every service parses request paths with :func:`parse_signed_path` and builds them with
:meth:`ChunkKey.signed_path`; no service concatenates user input into filesystem paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MASTER = "master.m3u8"
# The DASH MPD of a title: it lists the very same renditions, init and media segments as the
# HLS playlists, so one set of files serves both kinds of player.
DASH_MANIFEST = "manifest.mpd"
MEDIA_PLAYLIST = "index.m3u8"
INIT_SEGMENT = "init.mp4"
# The files that live at title level, beside the rendition folders.
TITLE_FILES = (MASTER, DASH_MANIFEST)

# Title ids are lowercase slugs; renditions name a height ("720p") or "audio".
TITLE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
RENDITION_RE = re.compile(r"^(?:[0-9]{2,4}p|audio)$")
SEGMENT_RE = re.compile(r"^seg_([0-9]{5})\.m4s$")
TOKEN_RE = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")

# URL prefix of signed content paths: /s/{token}/{title}/... ; the token precedes the title
# so relative URLs inside HLS playlists carry it along.
SIGNED_PREFIX = "/s/"


class AddressError(ValueError):
    """A path or name that does not address any content (maps to 404/400 at the boundary)."""


@dataclass(frozen=True, slots=True)
class ChunkKey:
    """One addressable file of a title. ``rendition`` is "" for the title-level files
    (the master playlist and the DASH manifest)."""

    title: str
    rendition: str
    name: str

    @property
    def cache_key(self) -> str:
        """The key under which stores, catalogs and caches know this file."""
        if not self.rendition:
            return f"{self.title}/{self.name}"
        return f"{self.title}/{self.rendition}/{self.name}"

    @property
    def relative_path(self) -> str:
        """Path below a store root; equal to the cache key, always validated (no '..')."""
        return self.cache_key

    def signed_path(self, token: str) -> str:
        """URL path of this file under a signed token."""
        return f"{SIGNED_PREFIX}{token}/{self.cache_key}"

    @property
    def is_playlist(self) -> bool:
        """An HLS playlist (master or media)."""
        return self.name.endswith(".m3u8")

    @property
    def is_manifest(self) -> bool:
        """A file that describes media rather than holding it: an HLS playlist or the DASH MPD."""
        return self.is_playlist or self.name == DASH_MANIFEST

    @property
    def segment_number(self) -> int | None:
        """The media segment's number, or None for playlists and init segments."""
        m = SEGMENT_RE.match(self.name)
        return int(m.group(1)) if m else None

    @property
    def content_type(self) -> str:
        if self.is_playlist:
            return "application/vnd.apple.mpegurl"
        if self.name == DASH_MANIFEST:
            return "application/dash+xml"
        if self.name == INIT_SEGMENT:
            return "video/mp4"
        return "video/iso.segment"


def master_key(title: str) -> ChunkKey:
    """The title's HLS master playlist. Raises AddressError for an invalid title id."""
    return make_key(title, "", MASTER)


def dash_key(title: str) -> ChunkKey:
    """The title's DASH manifest (MPD). Raises AddressError for an invalid title id."""
    return make_key(title, "", DASH_MANIFEST)


def segment_name(number: int) -> str:
    return f"seg_{number:05d}.m4s"


def make_key(title: str, rendition: str, name: str) -> ChunkKey:
    """Build a validated key. Raises AddressError for anything outside the addressing scheme."""
    if not TITLE_RE.match(title):
        raise AddressError(f"invalid title id {title!r}")
    if rendition == "":
        if name not in TITLE_FILES:
            raise AddressError(f"only {' and '.join(TITLE_FILES)} live at title level, not {name!r}")
        return ChunkKey(title, "", name)
    if not RENDITION_RE.match(rendition):
        raise AddressError(f"invalid rendition {rendition!r}")
    if name not in (MEDIA_PLAYLIST, INIT_SEGMENT) and not SEGMENT_RE.match(name):
        raise AddressError(f"invalid file name {name!r}")
    return ChunkKey(title, rendition, name)


def parse_key(cache_key: str) -> ChunkKey:
    """Parse "title/master.m3u8", "title/manifest.mpd" or "title/rendition/name". Raises AddressError."""
    parts = cache_key.split("/")
    if len(parts) == 2:
        return make_key(parts[0], "", parts[1])
    if len(parts) == 3:
        return make_key(parts[0], parts[1], parts[2])
    raise AddressError(f"invalid content path {cache_key!r}")


def parse_signed_path(path: str) -> tuple[str, ChunkKey]:
    """Split "/s/{token}/{cache key}" into (token, key). Raises AddressError."""
    if not path.startswith(SIGNED_PREFIX):
        raise AddressError("not a signed content path")
    token, sep, rest = path[len(SIGNED_PREFIX):].partition("/")
    if not sep or not TOKEN_RE.match(token):
        raise AddressError("malformed token segment")
    return token, parse_key(rest)


def slugify(name: str) -> str:
    """Derive a title id from a human name ("My Film!" -> "my-film"). Raises AddressError."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63].strip("-")
    if not slug or not TITLE_RE.match(slug):
        raise AddressError(f"cannot derive a title id from {name!r}")
    return slug
