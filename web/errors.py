"""Errors of the web room; only ``app.py`` maps them to HTTP statuses."""

from __future__ import annotations


class WebError(Exception):
    """Base class of every error the web room raises on purpose."""


class UpstreamUnavailable(WebError):
    """A service behind the web server did not answer (connection refused, timeout): 502/504."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


class NotFound(WebError):
    """What was asked for does not exist (unknown title, appliance, or no poster yet): 404."""


class Forbidden(WebError):
    """The session does not carry the role the request needs: 401 (no session) or 403."""

    def __init__(self, message: str, *, logged_in: bool) -> None:
        super().__init__(message)
        self.logged_in = logged_in


class PosterError(WebError):
    """A poster frame could not be taken from the title's video: 502."""
