"""Errors of the origin: one base class; only the HTTP adapter and the CLI map them to codes."""

from __future__ import annotations


class OriginError(Exception):
    """Base class of every error the origin's domain code raises."""


class IngestError(OriginError):
    """A source that cannot become a title, or an encode that failed; the message says why."""


class TitleNotFound(OriginError):
    """No title with that id in the catalog."""


class TitleExists(OriginError):
    """A title with that id is already catalogued (ready or being ingested)."""


class ObjectNotFound(OriginError):
    """No stored object under that key."""


class FfmpegError(OriginError):
    """The ffmpeg process failed; the message carries the tail of its error output."""


class CatalogError(OriginError):
    """The catalog database cannot be used (e.g. its schema is newer than this code)."""


class MalformedRange(OriginError):
    """A Range header that is not valid syntax (HTTP 400)."""


class RangeNotSatisfiable(OriginError):
    """A Range header none of whose ranges overlaps the object (HTTP 416)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"no requested range overlaps the {size} bytes of the object")
        self.size = size
