"""Operators in a real browser: the fleet dashboard follows a dying appliance, drains and undrains
one, and edits a site's fill schedule; other roles are kept out."""

from __future__ import annotations

import time

import httpx
import pytest
from playwright.sync_api import Page, expect

from streamfleet.addressing import parse_key
from streamfleet.launcher import DEV_KEY
from streamfleet.tokens import Keyring, sign

from .browser import ConsoleWatch
from .conftest import screenshot
from .flows import log_in
from .stack import TITLE, Stack

pytestmark = pytest.mark.e2e


def _row(page: Page, appliance: str) -> str:
    return f"#appliances tr[data-appliance='{appliance}']"


def _play_through(stack: Stack, appliance: str, rounds: int = 2) -> None:
    """Fetch every file of the title's smallest rendition from ``appliance``: misses, then hits."""
    detail = httpx.get(f"{stack.fleet.origin_url}/v1/titles/{TITLE}").json()
    video = [r for r in detail["renditions"] if r["height"] > 0]  # not the audio rendition (0x0)
    smallest = min(video, key=lambda r: r["height"])["name"]
    token = sign(Keyring.from_strings({"demo": DEV_KEY}, "demo"), TITLE, int(time.time()) + 600)
    keys = [parse_key(k) for k in detail["files"] if k.startswith(f"{TITLE}/{smallest}/")]
    for _ in range(rounds):
        for key in keys:
            response = httpx.get(stack.fleet.appliance_url(appliance) + key.signed_path(token), timeout=10)
            assert response.status_code == 200


def test_dashboard_shows_a_killed_appliance_going_down(stack: Stack, page: Page,
                                                       console: ConsoleWatch) -> None:
    base = stack.web_url
    log_in(page, base, stack.users["operator"], "/ops?interval=500")
    for spec in stack.fleet.specs:
        expect(page.locator(_row(page, spec.id))).to_have_attribute("data-health", "healthy")
    n = len(stack.fleet.specs)
    expect(page.get_by_test_id("tile-healthy")).to_contain_text(f"{n} / {n}")
    # Traffic between polls: the series and the appliances' counters show it.
    page.wait_for_timeout(1000)
    _play_through(stack, "east-1")
    expect(page.get_by_test_id("tile-hit-ratio")).to_contain_text("%")
    expect(page.locator(f"{_row(page, 'east-1')} td").nth(4)).to_contain_text("%")
    page.wait_for_timeout(1500)
    screenshot(page, "ops")
    stack.fleet.processes["west-1"].kill()
    try:
        expect(page.locator(_row(page, "west-1"))).to_have_attribute("data-health", "down", timeout=10_000)
        expect(page.locator(f"{_row(page, 'west-1')} td").nth(4)).to_have_text("unreachable")
        expect(page.get_by_test_id("tile-down")).to_contain_text("1")
        expect(page.locator("#health-changes")).to_contain_text("west-1 is now down")
        screenshot(page, "ops-appliance-down")
        assert console.errors == []
    finally:
        stack.fleet.start_service("west-1").wait_healthy(30)
    expect(page.locator(_row(page, "west-1"))).to_have_attribute("data-health", "healthy", timeout=10_000)


def test_operator_drains_undrains_and_edits_a_fill_schedule(stack: Stack, page: Page,
                                                             console: ConsoleWatch) -> None:
    base = stack.web_url
    log_in(page, base, stack.users["operator"], "/ops?interval=500")
    row = page.locator(_row(page, "east-2"))
    expect(row).to_have_attribute("data-health", "healthy")
    page.get_by_role("button", name="Drain east-2").click()
    expect(row).to_have_attribute("data-health", "draining", timeout=10_000)
    page.get_by_role("button", name="Undrain east-2").click()
    expect(row).to_have_attribute("data-health", "healthy", timeout=10_000)

    form = page.locator("form.schedule-form[data-site='east']")
    expect(form).to_be_visible()
    form.get_by_label("Window (local time)").fill("01:30-05:00")
    form.get_by_label("Time zone").fill("Europe/Paris")
    form.get_by_label("Rate").fill("200Mbps")
    form.get_by_role("button", name="Save schedule").click()
    expect(page.locator("#ops-message")).to_contain_text("Fill schedule of east saved")
    schedules = httpx.get(f"{stack.fleet.control_plane_http}/v1/fill/schedules",
                          headers={"authorization": "Bearer streamfleet-dev-operator-token"}).json()
    east = next(s for s in schedules["schedules"] if s["site"] == "east")
    assert (east["window"], east["tz"]) == ("01:30-05:00", "Europe/Paris")
    assert east["rate_bits_per_second"] == 200_000_000
    # A wrong value is refused with the control plane's own explanation, next to the form.
    form.get_by_label("Time zone").fill("Mars/Olympus")
    form.get_by_role("button", name="Save schedule").click()
    expect(page.locator("#ops-message")).to_contain_text("not a known IANA time zone")
    screenshot(page, "ops-schedule")
    assert console.unexpected(("/api/control/v1/fill/schedules/east",)) == []


def test_dashboard_needs_the_operator_role(stack: Stack, page: Page, console: ConsoleWatch) -> None:
    base = stack.web_url
    log_in(page, base, stack.users["viewer"], "/ops")
    expect(page.locator("#ops-message")).to_contain_text("needs an operator account")
    expect(page.locator("#ops")).to_be_hidden()
    expect(page.get_by_role("link", name="Operations")).to_have_count(0)
    # The API refuses too, whatever the page shows.
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    answer = httpx.get(f"{base}/api/ops/overview", cookies=cookies)
    assert answer.status_code == 403
    assert httpx.get(f"{base}/api/control/v1/fleet").status_code == 401
    assert console.errors == []
