"""The player's exceptions: one base class for everything the player raises on purpose."""

from __future__ import annotations


class PlayerError(Exception):
    """Base of every error the player raises on purpose."""


class PlaylistError(PlayerError):
    """A playlist that cannot be played; the message says which line and why."""


class SteeringRefused(PlayerError):
    """Steering gave no usable answer (unreachable, error status, or a malformed body)."""


class SourcesExhausted(PlayerError):
    """Every ranked URL failed for one file."""
