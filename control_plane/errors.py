"""Errors raised by control-plane domain code; only the adapters map them to gRPC/HTTP codes."""

from __future__ import annotations


class ControlPlaneError(Exception):
    """Base class of every error the control plane raises on purpose."""


class InvalidRequest(ControlPlaneError):
    """A request that can never succeed as sent (empty id, bad CIDR prefix, bad site name...).

    The message names the field and the reason; it is safe to return to the caller.
    """


class AccessDenied(ControlPlaneError):
    """An appliance presented a missing or wrong secret. The message never echoes the secret."""


class CatalogUnavailable(ControlPlaneError):
    """The origin catalog could not be read (origin down, bad answer); planning keeps the last plan."""


class Unauthorized(ControlPlaneError):
    """An operator request without the right bearer token. The message never echoes the token."""


class DatabaseError(ControlPlaneError):
    """The registry database cannot be used (unreachable, or its schema is newer than this code)."""


class NotLeader(ControlPlaneError):
    """This replica does not hold the planner lease (another one plans), or lost it mid-way."""
