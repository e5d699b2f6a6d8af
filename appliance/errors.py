"""Errors raised by appliance domain code; only the adapters map them to HTTP/gRPC codes."""

from __future__ import annotations


class ApplianceError(Exception):
    """Base class of every error the appliance raises on purpose."""


class NotStored(ApplianceError):
    """The store does not hold the chunk (never stored, evicted, or its file went bad): a miss."""


class StoreError(ApplianceError):
    """The disk failed us (no space, I/O error, read-only): the appliance cannot cache right now."""


class ChunkTooLarge(StoreError):
    """A chunk bigger than the whole store capacity; it can never be cached here."""


class UnknownContent(ApplianceError):
    """The origin's catalog has no such title or no such file in it (maps to 404)."""


class UpstreamError(ApplianceError):
    """The origin could not give us a correct copy: unreachable, bad status or bad bytes (502)."""


class UpstreamTimeout(UpstreamError):
    """The origin did not answer in time (504)."""


class ChecksumMismatch(UpstreamError):
    """The origin's bytes do not match the catalog's size or sha256; nothing was stored."""


class BadRequest(ApplianceError):
    """A request the HTTP layer cannot accept; ``status`` is the answer (400, 411, 413, 431, 505)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class RangeError(ApplianceError):
    """A Range header that cannot be honoured: malformed (400) or unsatisfiable (416)."""

    def __init__(self, status: int, message: str, size: int) -> None:
        super().__init__(message)
        self.status = status
        self.size = size


class FillError(ApplianceError):
    """The fill agent cannot get its manifest (control plane unreachable, refused, or malformed)."""
