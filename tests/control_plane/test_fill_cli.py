"""``streamfleet fill``: requests it sends, its text output (progress bars, ETA) and exit codes."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pytest

from control_plane.fill_cli import format_bytes, format_duration, format_rate, format_status, run

STATUS: dict[str, Any] = {
    "plan_version": 7,
    "planned_unix_ms": 0,
    "sites": [{"site": "ams", "window": "02:00-06:00", "tz": "Europe/Paris",
               "rate_bits_per_second": 500_000_000, "run_now_until": 0, "filling_allowed_now": True}],
    "appliances": [
        {"appliance_id": "ams-1", "site": "ams", "health": "healthy", "manifest_version": 7, "titles": 3,
         "planned_bytes": 4 * 10**9, "bytes_to_add": 10**9, "bytes_to_delete": 0, "fill_version": 7,
         "bytes_done": 10**9, "bytes_total": 4 * 10**9, "current": True, "done": False,
         "bytes_remaining": 3 * 10**9, "eta_unix": 1000, "eta_seconds": 48},
        {"appliance_id": "ams-2", "site": "ams", "health": "down", "manifest_version": 7, "titles": 3,
         "planned_bytes": 10**9, "bytes_to_add": 5 * 10**8, "bytes_to_delete": 0, "fill_version": 6,
         "bytes_done": 0, "bytes_total": 0, "current": False, "done": False,
         "bytes_remaining": 5 * 10**8, "eta_unix": None, "eta_seconds": None},
        {"appliance_id": "ams-3", "site": "ams", "health": "healthy", "manifest_version": 7, "titles": 1,
         "planned_bytes": 10, "bytes_to_add": 0, "bytes_to_delete": 0, "fill_version": 7,
         "bytes_done": 10, "bytes_total": 10, "current": True, "done": True,
         "bytes_remaining": 0, "eta_unix": 5, "eta_seconds": 0},
    ],
}


class Recorder:
    def __init__(self, status: int = 200, body: Any = None) -> None:
        self.requests: list[httpx.Request] = []
        self.status = status
        self.body = body

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, json=self.body)


def cli(argv: list[str], recorder: Recorder) -> tuple[int, str]:
    out = io.StringIO()
    code = run(["--control-plane", "http://cp.test:8090", "--token", "t0k", *argv],
               httpx.MockTransport(recorder), out)
    return code, out.getvalue()


def test_status_prints_a_progress_bar_and_eta_per_appliance() -> None:
    recorder = Recorder(body=STATUS)
    code, text = cli(["status", "--site", "ams"], recorder)
    assert code == 0
    (request,) = recorder.requests
    assert request.url == "http://cp.test:8090/v1/fill/status?site=ams"
    assert request.headers["authorization"] == "Bearer t0k"
    lines = text.splitlines()
    assert lines[0] == "plan version 7"
    assert lines[1] == ("site ams: fill 02:00-06:00 Europe/Paris at 500 Mbit/s (filling allowed now: yes)")
    assert lines[2] == ("  ams-1            [######------------------]  25.0%  1.00 GB / 4.00 GB  v7  "
                        "ETA 48s  (healthy)")
    assert "[------------------------]   0.0%" in lines[3]
    assert "manifest v7 not picked up yet (at v6), 500.00 MB to fill" in lines[3]
    assert "ETA unknown (no rate set)  (down)" in lines[3]
    assert "[########################] 100.0%" in lines[4] and "done" in lines[4]


def test_schedule_run_now_and_plan_send_the_right_requests() -> None:
    schedule = {"site": "ams", "window": "02:00-06:00", "tz": "Europe/Paris",
                "rate_bits_per_second": 500_000_000, "run_now_until": 0}
    recorder = Recorder(body=schedule)
    code, text = cli(["schedule", "--site", "ams", "--window", "02:00-06:00", "--tz", "Europe/Paris",
                      "--rate", "500Mbps"], recorder)
    assert code == 0
    assert text == "site ams: fill 02:00-06:00 Europe/Paris at 500 Mbit/s\n"
    request = recorder.requests[0]
    assert (request.method, request.url.path) == ("PUT", "/v1/fill/schedules/ams")
    assert json.loads(request.content) == {"window": "02:00-06:00", "tz": "Europe/Paris", "rate": "500Mbps"}
    recorder.body = {**schedule, "run_now_until": 1_767_229_200}
    code, text = cli(["run-now", "--site", "ams", "--hours", "1"], recorder)
    assert code == 0 and "run-now until 2026-01-01 01:00 UTC" in text
    assert json.loads(recorder.requests[1].content) == {"hours": 1.0}
    recorder.body = {"version": 3, "titles": 2, "duration_ms": 12, "stale_catalog": False,
                     "sites": {"ams": {"appliances": 1, "titles_placed": 2, "titles_unplaced": 0,
                                       "replicas": 2, "bytes_planned": 3000, "bytes_added": 1000,
                                       "bytes_deleted": 0}},
                     "appliances": {"ams-1": {"bytes_planned": 3000, "bytes_added": 1000, "bytes_deleted": 0,
                                              "titles_added": 1, "titles_deleted": 0}}}
    code, text = cli(["plan"], recorder)
    assert code == 0 and recorder.requests[2].method == "POST"
    assert text.splitlines()[0] == "plan version 3: 2 titles, 12 ms"
    assert "+1.00 kB (1 titles)" in text
    code, text = cli(["--json", "plan"], recorder)
    assert json.loads(text)["version"] == 3


@pytest.mark.parametrize(("status", "code"), [(401, 1), (400, 2), (502, 1)])
def test_errors_are_reported_with_exit_codes(status: int, code: int,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    recorder = Recorder(status, {"error": {"status": status, "message": "window '2-6' is invalid"}})
    assert cli(["status"], recorder)[0] == code
    assert f"HTTP {status}: window '2-6' is invalid" in capsys.readouterr().err


def test_unreachable_control_plane(capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    out = io.StringIO()
    assert run(["--control-plane", "http://127.0.0.1:9", "plan"], httpx.MockTransport(refuse), out) == 1
    assert "cannot reach the control plane" in capsys.readouterr().err


def test_formatting_helpers() -> None:
    assert format_bytes(999) == "999 B" and format_bytes(1_500_000_000) == "1.50 GB"
    assert format_rate(0) == "no rate limit" and format_rate(1_500_000_000) == "1.5 Gbit/s"
    assert [format_duration(s) for s in (5, 725, 12_000, 200_000)] == ["5s", "12m 05s", "3h 20m", "2d 07h"]
    assert format_status({"plan_version": 0, "sites": [], "appliances": []}, 0) == "plan version 0"
