"""Checks and canonical forms of what appliances send; every failure is an InvalidRequest.

Messages name the field and the reason, so an ISP engineer can fix the appliance's config.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from streamfleet.addressing import TITLE_RE

from .errors import InvalidRequest
from .model import Location

APPLIANCE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
SITE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# SQLite integers are signed 64-bit; larger byte counts are not plausible anyway.
MAX_INT64 = 2**63 - 1
# Bounds that keep one registration or heartbeat (and the fleet snapshot) reasonably small.
MAX_PREFIXES = 4096
MAX_TITLES = 100_000


def appliance_id(value: str) -> str:
    """Return ``value`` if it is a valid appliance id. Raises InvalidRequest."""
    if not value:
        raise InvalidRequest("appliance_id is empty")
    if not APPLIANCE_ID_RE.match(value):
        raise InvalidRequest(
            f"appliance_id {value!r} is invalid: use 1-63 letters, digits, '.', '_' or '-'"
        )
    return value


def site(value: str) -> str:
    """Return ``value`` if it is a valid site name. Raises InvalidRequest."""
    if not value:
        raise InvalidRequest("site is empty")
    if not SITE_RE.match(value):
        raise InvalidRequest(
            f"site {value!r} is invalid: use 1-63 lowercase letters, digits, '_' or '-'"
        )
    return value


def http_url(value: str) -> str:
    """Return the base URL without a trailing slash. Raises InvalidRequest."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(f"http_url {value!r} is invalid: expected http(s)://host[:port]")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidRequest(f"http_url {value!r} must not carry credentials, a query or a fragment")
    try:
        parts.port  # noqa: B018 - raises ValueError for an out-of-range port
    except ValueError:
        raise InvalidRequest(f"http_url {value!r} has an invalid port") from None
    return value.rstrip("/")


def client_prefixes(values: Iterable[str]) -> tuple[str, ...]:
    """Canonical CIDR strings, sorted, deduplicated. Host bits must be zero. Raises InvalidRequest."""
    out: set[str] = set()
    for value in values:
        try:
            network = ipaddress.ip_network(value.strip(), strict=True)
        except ValueError as exc:
            raise InvalidRequest(f"client_prefixes: {value!r} is not a CIDR prefix ({exc})") from None
        out.add(str(network))
        if len(out) > MAX_PREFIXES:
            raise InvalidRequest(f"client_prefixes: more than {MAX_PREFIXES} prefixes")
    return tuple(sorted(out))


def location(latitude: float, longitude: float) -> Location:
    """Raises InvalidRequest for coordinates outside the globe."""
    if not (math.isfinite(latitude) and -90.0 <= latitude <= 90.0):
        raise InvalidRequest(f"location.latitude {latitude} is outside -90..90")
    if not (math.isfinite(longitude) and -180.0 <= longitude <= 180.0):
        raise InvalidRequest(f"location.longitude {longitude} is outside -180..180")
    return Location(latitude, longitude)


def byte_count(name: str, value: int) -> int:
    """Raises InvalidRequest for counts SQLite cannot hold."""
    if not 0 <= value <= MAX_INT64:
        raise InvalidRequest(f"{name} {value} is out of range")
    return value


def error_ratio(value: float) -> float:
    """Raises InvalidRequest unless 0 <= value <= 1."""
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise InvalidRequest(f"error_ratio {value} is outside 0..1")
    return value


def titles(values: Iterable[str]) -> tuple[str, ...]:
    """Title ids, sorted and deduplicated. Raises InvalidRequest for an id outside the scheme."""
    out = set(values)
    if len(out) > MAX_TITLES:
        raise InvalidRequest(f"titles: more than {MAX_TITLES} titles")
    for title in out:
        if not TITLE_RE.match(title):
            raise InvalidRequest(f"titles: {title!r} is not a title id")
    return tuple(sorted(out))
