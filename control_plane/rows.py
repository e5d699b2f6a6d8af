"""How appliance records and published statuses are written in the ``appliances`` table (rows, JSON)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from .model import (
    ApplianceRecord,
    ApplianceState,
    ApplianceStatus,
    FillProgress,
    Health,
    LoadReport,
    Location,
    Registration,
)

RECORD_COLUMNS = ("appliance_id", "site", "http_url", "capacity_bytes", "client_prefixes", "latitude",
                  "longitude", "registered_unix_ms", "last_heartbeat_unix_ms", "state", "healthy_reported",
                  "load", "titles", "fill")


def row_from_record(r: ApplianceRecord) -> tuple[Any, ...]:
    """The values of RECORD_COLUMNS for ``r``."""
    reg = r.registration
    return (
        reg.appliance_id,
        reg.site,
        reg.http_url,
        reg.capacity_bytes,
        json.dumps(list(reg.client_prefixes)),
        reg.location.latitude if reg.location else None,
        reg.location.longitude if reg.location else None,
        r.registered_unix_ms,
        r.last_heartbeat_unix_ms,
        r.state.value,
        int(r.healthy_reported),
        json.dumps(asdict(r.load)),
        json.dumps(list(r.titles)),
        json.dumps(asdict(r.fill)),
    )


def record_from_row(row: tuple[Any, ...]) -> ApplianceRecord:
    """The record stored in a row of RECORD_COLUMNS."""
    (ident, site, url, capacity, prefixes, lat, lon, registered, last_hb, state, healthy, load, titles,
     fill) = row
    location = Location(float(lat), float(lon)) if lat is not None and lon is not None else None
    return ApplianceRecord(
        registration=Registration(
            appliance_id=ident,
            site=site,
            http_url=url,
            capacity_bytes=int(capacity),
            client_prefixes=tuple(json.loads(prefixes)),
            location=location,
        ),
        registered_unix_ms=int(registered),
        state=ApplianceState(state),
        healthy_reported=bool(healthy),
        load=LoadReport(**json.loads(load)),
        titles=tuple(json.loads(titles)),
        fill=FillProgress(**json.loads(fill)),
        last_heartbeat_unix_ms=None if last_hb is None else int(last_hb),
    )


def status_to_json(s: ApplianceStatus) -> str:
    """A published status as stored in ``appliances.status``."""
    out = asdict(s)
    out["health"] = s.health.value
    out["state"] = s.state.value
    out["location"] = None if s.location is None else [s.location.latitude, s.location.longitude]
    return json.dumps(out, separators=(",", ":"))


def status_from_json(text: str) -> ApplianceStatus:
    """The status :func:`status_to_json` wrote."""
    raw = json.loads(text)
    location = raw.pop("location")
    return ApplianceStatus(
        **{**raw, "health": Health(raw["health"]), "state": ApplianceState(raw["state"]),
           "client_prefixes": tuple(raw["client_prefixes"]), "titles": tuple(raw["titles"]),
           "location": None if location is None else Location(float(location[0]), float(location[1]))},
    )
