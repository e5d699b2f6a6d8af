"""``streamfleet fill ...``: the operators' fill commands, talking to the control plane's HTTP API.

    streamfleet fill schedule --site S --window 02:00-06:00 --tz Europe/Paris --rate 500Mbps
    streamfleet fill run-now --site S [--hours 6] [--rate 1Gbps]
    streamfleet fill status [--site S]
    streamfleet fill plan

``--control-plane URL`` and ``--token`` default to the control plane's own config
(``--config FILE`` and CONTROL_PLANE_* variables), so on the control plane's host no flag is needed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import httpx

from streamfleet.config import ConfigError

from .config import load

BAR_WIDTH = 24


class CommandFailed(Exception):
    """The command cannot complete; the message is for the operator. ``code`` is the exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def fill_main(argv: list[str]) -> int:
    """Entry point of ``streamfleet fill``. Returns the process exit code."""
    return run(argv)


def run(argv: list[str], transport: httpx.BaseTransport | None = None, out: TextIO | None = None) -> int:
    """:func:`fill_main` with an injectable HTTP transport and output stream (for tests)."""
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    try:
        base, token = _endpoint(args)
        with httpx.Client(base_url=base, transport=transport, timeout=args.timeout,
                          headers={"Authorization": f"Bearer {token}"}) as client:
            command: Callable[[httpx.Client, argparse.Namespace, TextIO], None] = args.func
            command(client, args, out)
    except CommandFailed as exc:
        print(f"streamfleet fill: {exc}", file=sys.stderr)
        return exc.code
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streamfleet fill", description="Plan and schedule appliance fill.")
    parser.add_argument("--control-plane", default=None, metavar="URL",
                        help="control plane HTTP base URL (default: from its config, http://127.0.0.1:8090)")
    parser.add_argument("--token", default=None, help="operator token (default: the config's operator_token)")
    parser.add_argument("--config", type=Path, default=None, help="the control plane's TOML config")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    parser.add_argument("--json", action="store_true", help="print the API's JSON instead of text")
    commands = parser.add_subparsers(dest="command", required=True)
    schedule = commands.add_parser("schedule", help="set a site's nightly fill window and rate")
    schedule.add_argument("--site", required=True)
    schedule.add_argument("--window", required=True, help="local HH:MM-HH:MM, e.g. 02:00-06:00")
    schedule.add_argument("--tz", required=True, help="IANA time zone, e.g. Europe/Paris")
    schedule.add_argument("--rate", required=True, help="e.g. 500Mbps, 1Gbps, 200Mbit")
    schedule.set_defaults(func=_schedule)
    run_now = commands.add_parser("run-now", help="fill a site now, regardless of its window")
    run_now.add_argument("--site", required=True)
    run_now.add_argument("--hours", type=float, default=None,
                         help="for how long (default: the control plane's run_now_hours)")
    run_now.add_argument("--rate", default=None, help="also set the site's rate, e.g. 1Gbps")
    run_now.set_defaults(func=_run_now)
    status = commands.add_parser("status", help="fill progress and ETA per appliance")
    status.add_argument("--site", default=None)
    status.set_defaults(func=_status)
    plan = commands.add_parser("plan", help="re-plan every site now and show what moves")
    plan.set_defaults(func=_plan)
    return parser


def _endpoint(args: argparse.Namespace) -> tuple[str, str]:
    base, token = args.control_plane, args.token
    if base is None or token is None:
        try:
            config = load(args.config)
        except ConfigError as exc:
            raise CommandFailed(str(exc), 2) from None
        host = "127.0.0.1" if config.host in ("", "0.0.0.0", "::") else config.host
        host = f"[{host}]" if ":" in host else host
        base = base or f"http://{host}:{config.http_port}"
        token = token or config.operator_token
    return base.rstrip("/"), token


def _call(client: httpx.Client, method: str, path: str, body: dict[str, Any] | None = None,
          params: dict[str, str] | None = None) -> dict[str, Any]:
    try:
        reply = client.request(method, path, json=body, params=params)
    except httpx.HTTPError as exc:
        raise CommandFailed(f"cannot reach the control plane at {client.base_url}: {exc}") from None
    try:
        data = reply.json()
    except ValueError:
        data = None
    if reply.status_code != 200:
        message = data.get("error", {}).get("message") if isinstance(data, dict) else None
        raise CommandFailed(f"HTTP {reply.status_code}: {message or reply.text[:200]}",
                            2 if reply.status_code == 400 else 1)
    if not isinstance(data, dict):
        raise CommandFailed(f"{path}: the control plane did not answer with a JSON object")
    return data


def _schedule(client: httpx.Client, args: argparse.Namespace, out: TextIO) -> None:
    data = _call(client, "PUT", f"/v1/fill/schedules/{quote(args.site, safe='')}",
                 {"window": args.window, "tz": args.tz, "rate": args.rate})
    _print(out, args, data, lambda: describe_schedule(data))


def _run_now(client: httpx.Client, args: argparse.Namespace, out: TextIO) -> None:
    body: dict[str, Any] = {}
    if args.hours is not None:
        body["hours"] = args.hours
    if args.rate is not None:
        body["rate"] = args.rate
    data = _call(client, "POST", f"/v1/fill/run-now/{quote(args.site, safe='')}", body)
    _print(out, args, data, lambda: describe_schedule(data))


def _status(client: httpx.Client, args: argparse.Namespace, out: TextIO) -> None:
    data = _call(client, "GET", "/v1/fill/status", params={"site": args.site} if args.site else None)
    _print(out, args, data, lambda: format_status(data, dt.datetime.now(dt.UTC).timestamp()))


def _plan(client: httpx.Client, args: argparse.Namespace, out: TextIO) -> None:
    data = _call(client, "POST", "/v1/fill/plan")
    _print(out, args, data, lambda: format_plan(data))


def _print(out: TextIO, args: argparse.Namespace, data: dict[str, Any], text: Callable[[], str]) -> None:
    out.write((json.dumps(data, indent=2) if args.json else text()) + "\n")


def describe_schedule(s: dict[str, Any]) -> str:
    """One line about a site's schedule, e.g. "site ams: fill 02:00-06:00 Europe/Paris at 500 Mbit/s"."""
    window = f"{s['window']} {s['tz']}" if s.get("window") else "at any time"
    rate = int(s.get("rate_bits_per_second") or 0)
    line = f"site {s['site']}: fill {window} " + (f"at {format_rate(rate)}" if rate else "with no rate limit")
    until = int(s.get("run_now_until") or 0)
    if until:
        stamp = dt.datetime.fromtimestamp(until, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        line += f"; run-now until {stamp}"
    return line


def format_status(data: dict[str, Any], now_s: float) -> str:
    """The text of ``fill status``: each site's schedule, then one progress bar per appliance."""
    lines = [f"plan version {data.get('plan_version', 0)}"]
    appliances = data.get("appliances", [])
    for site in data.get("sites", []):
        allowed = "yes" if site.get("filling_allowed_now") else "no"
        lines.append(f"{describe_schedule(site)} (filling allowed now: {allowed})")
        for a in appliances:
            if a["site"] == site["site"]:
                lines.append("  " + _appliance_line(a, now_s))
    return "\n".join(lines)


def _appliance_line(a: dict[str, Any], now_s: float) -> str:
    done, total = int(a["bytes_done"]), int(a["bytes_total"])
    if a["manifest_version"] == 0:
        return f"{a['appliance_id']:<16} no manifest planned yet"
    if not a["current"]:
        fraction = 0.0
        progress = (f"manifest v{a['manifest_version']} not picked up yet (at v{a['fill_version']}), "
                    f"{format_bytes(a['bytes_remaining'])} to fill")
    else:
        fraction = done / total if total else 1.0
        progress = f"{format_bytes(done)} / {format_bytes(total)}  v{a['manifest_version']}"
    filled = round(fraction * BAR_WIDTH)
    bar = "[" + "#" * filled + "-" * (BAR_WIDTH - filled) + "]"
    if a["done"]:
        eta = "done"
    elif a["eta_seconds"] is None:
        eta = "ETA unknown (no rate set)"
    else:
        eta = f"ETA {format_duration(a['eta_seconds'])}"
    return f"{a['appliance_id']:<16} {bar} {fraction * 100:5.1f}%  {progress}  {eta}  ({a['health']})"


def format_plan(data: dict[str, Any]) -> str:
    """The text of ``fill plan``: totals per site and what each appliance adds and deletes."""
    stale = " (origin unreachable: used the last catalog)" if data.get("stale_catalog") else ""
    lines = [f"plan version {data['version']}: {data['titles']} titles, "
             f"{data['duration_ms']} ms{stale}"]
    appliances = data.get("appliances", {})
    for site, t in data.get("sites", {}).items():
        lines.append(f"site {site}: {t['titles_placed']} titles placed ({t['replicas']} replicas), "
                     f"{t['titles_unplaced']} left to the origin, "
                     f"{format_bytes(t['bytes_planned'])} planned, "
                     f"+{format_bytes(t['bytes_added'])} -{format_bytes(t['bytes_deleted'])}")
    for ident, c in appliances.items():
        lines.append(f"  {ident:<16} {format_bytes(c['bytes_planned']):>10} planned  "
                     f"+{format_bytes(c['bytes_added'])} ({c['titles_added']} titles)  "
                     f"-{format_bytes(c['bytes_deleted'])} ({c['titles_deleted']} titles)")
    return "\n".join(lines)


def format_bytes(n: int) -> str:
    """Decimal units, e.g. 1.50 GB; plain bytes below 1 kB."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(value) < 1000 or unit == "PB":
            return f"{int(value)} B" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def format_rate(bits_per_second: int) -> str:
    """E.g. 500 Mbit/s; "no rate limit" for 0."""
    if not bits_per_second:
        return "no rate limit"
    value = float(bits_per_second)
    for unit in ("bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"):
        if value < 1000 or unit == "Tbit/s":
            return f"{value:g} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def format_duration(seconds: int) -> str:
    """E.g. 45s, 12m 05s, 3h 20m, 2d 04h."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {s:02d}s"
    hours, m = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {m:02d}m"
    days, h = divmod(hours, 24)
    return f"{days}d {h:02d}h"
