"""The operator's view of the fleet, gathered from the services' own APIs and metrics.

One overview joins the control plane's fleet snapshot (health, load, disk) and fill status,
every appliance's ``/metrics`` (hits, misses, bytes), steering's ``/metrics`` (content vs
health misses) and the origin's ``/metrics`` (bytes it served). A part that cannot be read is
reported as unreachable; the rest still shows. Drain requests go to the appliance's admin API.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from .errors import NotFound, UpstreamUnavailable
from .promtext import Sample, parse_samples, total

APPLIANCE = "streamfleet_appliance"


class FleetOverview:
    """Reads the fleet for the dashboard and drains appliances. Use from one event loop."""

    def __init__(self, client: httpx.AsyncClient, *, control_plane_http: str, steering_url: str,
                 origin_url: str, operator_token: str, admin_token: str, scrape_timeout: float = 2.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._cp = control_plane_http.rstrip("/")
        self._steering = steering_url.rstrip("/")
        self._origin = origin_url.rstrip("/")
        self._operator = {"authorization": f"Bearer {operator_token}"}
        self._admin = {"authorization": f"Bearer {admin_token}"}
        self._timeout = scrape_timeout
        self._clock = clock

    async def fleet(self) -> dict[str, Any]:
        """The control plane's GET /v1/fleet. Raises UpstreamUnavailable."""
        try:
            response = await self._client.get(f"{self._cp}/v1/fleet", timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"control plane unreachable: {exc}") from None
        if response.status_code != 200:
            raise UpstreamUnavailable(f"control plane answered {response.status_code} to GET /v1/fleet")
        body: dict[str, Any] = response.json()
        return body

    async def appliance_url(self, appliance_id: str) -> str:
        """Base URL of the appliance as registered. Raises NotFound or UpstreamUnavailable."""
        for a in (await self.fleet()).get("appliances", []):
            if a.get("appliance_id") == appliance_id:
                return str(a["http_url"]).rstrip("/")
        raise NotFound(f"unknown appliance {appliance_id[:80]!r}")

    async def overview(self) -> dict[str, Any]:
        """The dashboard's snapshot. Raises UpstreamUnavailable only when the fleet itself is unknown."""
        fleet = await self.fleet()
        appliances = fleet.get("appliances", [])
        scrapes, fill = await asyncio.gather(
            asyncio.gather(
                *(self._scrape(f"{str(a['http_url']).rstrip('/')}/metrics") for a in appliances),
                self._scrape(f"{self._steering}/metrics"),
                self._scrape(f"{self._origin}/metrics"),
            ),
            self._fill_status(),
        )
        *appliance_scrapes, steering, origin = scrapes
        fill_by_id = {f["appliance_id"]: f for f in (fill or {}).get("appliances", [])} if fill else {}
        rows = [_appliance_row(a, s, fill_by_id.get(a.get("appliance_id")))
                for a, s in zip(appliances, appliance_scrapes, strict=True)]
        return {
            "generated_unix_ms": int(self._clock() * 1000),
            "fleet_version": fleet.get("version"),
            "health_counts": fleet.get("health_counts", {}),
            "sites": _sites(rows),
            "appliances": rows,
            "steering": _steering(steering),
            "origin": None if origin is None else {
                "bytes_served": total(origin, "origin_http_bytes_served_total"),
            },
            "fill": {
                "available": fill is not None,
                "plan_version": (fill or {}).get("plan_version"),
                "schedules": (fill or {}).get("sites", []),
            },
        }

    async def drain(self, appliance_id: str, undo: bool) -> dict[str, Any]:
        """Ask the appliance to drain (or stop draining). Raises NotFound or UpstreamUnavailable."""
        base = await self.appliance_url(appliance_id)
        url = f"{base}/admin/drain" + ("?undo=1" if undo else "")
        try:
            response = await self._client.post(url, headers=self._admin, timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"appliance {appliance_id} unreachable: {exc}") from None
        if response.status_code == 404:
            raise UpstreamUnavailable(f"appliance {appliance_id} has no drain endpoint")
        if response.status_code != 200:
            raise UpstreamUnavailable(f"appliance {appliance_id} answered {response.status_code} to drain")
        body: dict[str, Any] = response.json()
        return body

    async def _scrape(self, url: str) -> list[Sample] | None:
        try:
            response = await self._client.get(url, timeout=self._timeout)
            if response.status_code != 200:
                return None
            return parse_samples(response.text)
        except (httpx.HTTPError, ValueError):
            return None

    async def _fill_status(self) -> dict[str, Any] | None:
        """GET /v1/fill/status, or None when the control plane has no fill API (yet) or refuses."""
        try:
            response = await self._client.get(f"{self._cp}/v1/fill/status", headers=self._operator,
                                               timeout=self._timeout)
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        return body


def _appliance_row(a: dict[str, Any], samples: list[Sample] | None,
                   fill: dict[str, Any] | None) -> dict[str, Any]:
    metrics: dict[str, Any] | None = None
    if samples is not None:
        metrics = {
            "hits": total(samples, f"{APPLIANCE}_requests_total", result="hit"),
            "misses": total(samples, f"{APPLIANCE}_requests_total", result="miss"),
            "peer_fills": total(samples, f"{APPLIANCE}_requests_total", result="peer_fill"),
            "errors": total(samples, f"{APPLIANCE}_requests_total", result="error"),
            "bytes_hit": total(samples, f"{APPLIANCE}_bytes_total", result="hit"),
            "bytes_miss": total(samples, f"{APPLIANCE}_bytes_total", result="miss"),
            "bytes_peer_fill": total(samples, f"{APPLIANCE}_bytes_total", result="peer_fill"),
            "disk_used_bytes": total(samples, f"{APPLIANCE}_disk_used_bytes"),
            "disk_capacity_bytes": total(samples, f"{APPLIANCE}_disk_capacity_bytes"),
            "draining": total(samples, f"{APPLIANCE}_draining") > 0,
        }
    return {
        "appliance_id": a.get("appliance_id"),
        "site": a.get("site"),
        "health": a.get("health"),
        "state": a.get("state"),
        "http_url": a.get("http_url"),
        "capacity_bytes": a.get("capacity_bytes", 0),
        "disk_used_bytes": a.get("disk_used_bytes", 0),
        "egress_bytes_per_second": a.get("egress_bytes_per_second", 0),
        "connections": a.get("connections", 0),
        "titles": len(a.get("titles") or []),
        "last_heartbeat_unix_ms": a.get("last_heartbeat_unix_ms", 0),
        "metrics": metrics,
        "fill": None if fill is None else {
            k: fill.get(k) for k in ("manifest_version", "fill_version", "bytes_done", "bytes_total",
                                     "bytes_remaining", "current", "done", "eta_seconds", "titles")
        },
    }


def _sites(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sites: dict[str, dict[str, Any]] = {}
    for row in rows:
        site = sites.setdefault(str(row["site"]), {"site": row["site"], "appliances": 0, "healthy": 0})
        site["appliances"] += 1
        site["healthy"] += row["health"] == "healthy"
    return [sites[k] for k in sorted(sites)]


def _steering(samples: list[Sample] | None) -> dict[str, Any]:
    if samples is None:
        return {"reachable": False}
    return {
        "reachable": True,
        "misses": {kind: total(samples, "streamfleet_steering_misses_total", kind=kind)
                   for kind in ("content", "health")},
        "playback_requests": total(samples, "steering_playback_requests_total"),
    }
