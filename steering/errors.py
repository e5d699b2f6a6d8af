"""Steering's exceptions: one base class; only app.py maps them to HTTP statuses."""

from __future__ import annotations


class SteeringError(Exception):
    """Base of every error steering raises on purpose."""


class InvalidRequest(SteeringError):
    """The playback request is malformed (-> 400)."""


class UnknownTitle(SteeringError):
    """The origin does not know the title or it is not ready for playback (-> 404)."""


class CatalogUnavailable(SteeringError):
    """The origin could not be asked and nothing is cached for the title (-> 503)."""


class RequestTooLarge(SteeringError):
    """The request body exceeds the configured limit (-> 413)."""


class RequestTimeout(SteeringError):
    """The client went away (or was cut off) before its request body arrived (-> 408)."""


class CoverageError(SteeringError):
    """A coverage-zone file that cannot be used (the previous zones stay in force)."""


class GeoDatabaseError(SteeringError):
    """A configured GeoIP database that cannot be opened (fails start-up)."""


class Unauthenticated(SteeringError):
    """No viewer session, or one that is forged, malformed or expired (-> 401)."""
