"""Fill status for operators: per appliance, how far it got with its manifest and when it will finish.

Progress comes from heartbeats (``fill_version``, ``fill_bytes_done``, ``fill_bytes_total``); the
ETA from the bytes left, the site's rate and its windows (``schedules.fill_eta``). For an appliance
that has not yet picked up its latest manifest, what is left is the manifest's titles that its
heartbeats do not list as held.
"""

from __future__ import annotations

from typing import Any

from .fill import FillCoordinator, PlanReport
from .model import ApplianceStatus, FillProgress, FleetState
from .schedules import FillSchedule, fill_eta, is_open


def fill_status(coordinator: FillCoordinator, state: FleetState, progress: dict[str, FillProgress],
                now_s: float, site: str | None = None) -> dict[str, Any]:
    """The body of GET /v1/fill/status: sites (schedule, open now) and appliances (progress, ETA).

    ``progress`` maps appliance id -> its last reported fill progress. ``site`` None: every site.
    """
    report = coordinator.report
    appliances = [a for a in state.appliances if site is None or a.site == site]
    sites = sorted({a.site for a in appliances} | ({site} if site else set()))
    return {
        "plan_version": report.version,
        "planned_unix_ms": report.planned_unix_ms,
        "sites": [_site_json(coordinator.schedule(s), now_s) for s in sites],
        "appliances": [
            _appliance_json(coordinator, a, progress.get(a.appliance_id, FillProgress()), report, now_s)
            for a in appliances
        ],
    }


def plan_report_json(report: PlanReport) -> dict[str, Any]:
    """The body of POST/GET /v1/fill/plan: totals per site and the change per appliance."""
    return {
        "version": report.version,
        "planned_unix_ms": report.planned_unix_ms,
        "duration_ms": report.duration_ms,
        "reason": report.reason,
        "titles": report.titles,
        "stale_catalog": report.stale_catalog,
        "sites": {s: dict(v) for s, v in sorted(report.sites.items())},
        "appliances": {
            ident: {"bytes_planned": c.bytes_planned, "bytes_added": c.bytes_added,
                    "bytes_deleted": c.bytes_deleted, "titles_added": c.titles_added,
                    "titles_deleted": c.titles_deleted}
            for ident, c in sorted(report.changes.items())
        },
    }


def _site_json(schedule: FillSchedule, now_s: float) -> dict[str, Any]:
    return {**schedule.to_json(), "filling_allowed_now": is_open(schedule, now_s)}


def _appliance_json(coordinator: FillCoordinator, a: ApplianceStatus, progress: FillProgress,
                    report: PlanReport, now_s: float) -> dict[str, Any]:
    planned = coordinator.manifest(a.appliance_id)
    version = planned[1].version if planned else 0
    planned_bytes = sum(e.bytes for e in planned[1].entries) if planned else 0
    change = report.changes.get(a.appliance_id)
    current = version > 0 and progress.fill_version == version
    if current:
        remaining = max(0, progress.bytes_total - progress.bytes_done)
    elif planned:
        # Not started on this manifest yet: what it lists that the appliance does not report holding.
        holding = set(a.titles)
        remaining = sum(e.bytes for e in planned[1].entries if e.title not in holding)
    else:
        remaining = 0
    eta = fill_eta(coordinator.schedule(a.site), remaining, now_s) if version else None
    return {
        "appliance_id": a.appliance_id,
        "site": a.site,
        "health": a.health.value,
        "manifest_version": version,
        "titles": len(planned[1].entries) if planned else 0,
        "planned_bytes": planned_bytes,
        "bytes_to_add": change.bytes_added if change else 0,
        "bytes_to_delete": change.bytes_deleted if change else 0,
        "fill_version": progress.fill_version,
        "bytes_done": progress.bytes_done,
        "bytes_total": progress.bytes_total,
        # False until the appliance reports progress on its latest manifest.
        "current": current,
        "done": current and remaining == 0,
        "bytes_remaining": remaining,
        "eta_unix": None if eta is None else round(eta),
        "eta_seconds": None if eta is None else max(0, round(eta - now_s)),
    }
