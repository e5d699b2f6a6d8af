"""Errors of the origin: one base class; only the HTTP adapter and the CLI map them to codes."""

from __future__ import annotations


class OriginError(Exception):
    """Base class of every error the origin's domain code raises."""


class IngestError(OriginError):
    """A source that cannot become a title, or an encode that failed; the message says why."""


class SourceError(IngestError):
    """The source itself is unusable (truncated, damaged): retrying the job cannot help.

    Its message is the reason alone; callers say which source ("cannot read X: <reason>").
    """


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


class AccountError(OriginError):
    """A sign-up or account change that cannot be done; the message is safe to show the client."""


class AccountExists(AccountError):
    """The username is taken (sign-up necessarily tells, so it says only "cannot be used")."""


class InvalidCredentials(OriginError):
    """Wrong username or password; deliberately does not say which."""


class LoginThrottled(OriginError):
    """Too many failed logins for this account or client address (HTTP 429)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed logins; retry in {int(retry_after) + 1} s")
        self.retry_after = retry_after


class UploadError(OriginError):
    """A tus upload request that cannot be honoured; ``status`` is the HTTP status it maps to."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class JobError(OriginError):
    """A pipeline job failed (or was cancelled); the queue retries it up to max_attempts."""
