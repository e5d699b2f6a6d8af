"""Viewers in a real browser: sign up, search as they type, open a title, watch it through steering's
ranked appliances, and keep watching when the serving appliance dies."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from .browser import ConsoleWatch
from .conftest import screenshot
from .flows import player_state
from .stack import PASSWORD, TITLE, TITLE_NAME, Stack, wait_until

pytestmark = pytest.mark.e2e


def test_viewer_signs_up_searches_and_watches(stack: Stack, page: Page, console: ConsoleWatch) -> None:
    base = stack.web_url
    page.goto(f"{base}/")
    expect(page.get_by_role("link", name="Sign up")).to_be_visible()
    screenshot(page, "home-logged-out")
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Username").fill(f"ada-{int(time.time())}")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("I want to").select_option("viewer")
    screenshot(page, "signup")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(f"{base}/")
    expect(page.get_by_test_id("who")).to_contain_text("viewer")
    expect(page.locator("#popular a[data-title]").first).to_be_visible()
    page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
    screenshot(page, "home")

    # Search from the header, then refine on the search page: results follow every keystroke.
    page.get_by_label("Search titles").fill("harbour")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/search?q=harbour")
    expect(page.locator("#results a[data-title]")).to_have_count(1)
    box = page.get_by_role("searchbox", name="Search titles")
    box.fill("")
    box.press_sequentially("zzz-nothing", delay=20)
    expect(page.locator("#search-count")).to_have_text("0 titles found")
    box.fill("")
    box.press_sequentially("lights", delay=20)
    result = page.locator(f"#results a[data-title='{TITLE}']")
    expect(result).to_be_visible()
    screenshot(page, "search")

    # Keyboard: the result is a link that Enter follows.
    result.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/titles/{TITLE}")
    expect(page.get_by_role("heading", name=TITLE_NAME)).to_be_visible()
    screenshot(page, "title")
    relayed_ids: list[str | None] = []
    page.on("request", lambda r: relayed_ids.append(r.headers.get("x-request-id"))
            if "/api/relay/" in r.url else None)
    page.get_by_role("link", name="Play").click()
    page.wait_for_url(f"{base}/watch/{TITLE}")
    page.wait_for_function(
        "() => window.sfPlayer && (window.sfPlayer.fatal || window.sfPlayer.sources.length)")
    assert player_state(page)["fatal"] is None, "steering must accept the origin's login session"
    page.wait_for_function("() => document.getElementById('video').currentTime > 5 || window.sfPlayer.fatal",
                           timeout=30_000)
    state = player_state(page)
    assert state["fatal"] is None
    assert state["currentTime"] > 5
    assert state["servedBy"] in {"east-1", "east-2"}
    # hls.js plays the audio rendition beside the video (the master's audio group): its segments
    # were fetched and Chromium decoded sound from them.
    fetched = page.evaluate("() => performance.getEntriesByType('resource').map((e) => e.name)")
    assert any("/audio/seg_00000.m4s" in url for url in fetched), fetched
    assert page.evaluate("() => document.getElementById('video').webkitAudioDecodedByteCount") > 0
    # Every media request carried the id steering gave this playback (its logs join up).
    request_id = page.evaluate("() => window.sfPlayer.requestId")
    assert request_id and relayed_ids and set(relayed_ids) == {request_id}, relayed_ids
    page.get_by_role("button", name="Show playback details").click()
    screenshot(page, "watch")
    assert console.errors == []


def test_playback_fails_over_when_the_serving_appliance_dies(stack: Stack, public_web: str, page: Page,
                                                              console: ConsoleWatch) -> None:
    # Little buffer ahead, so the player must fetch segments after the kill.
    page.goto(f"{public_web}/watch/{TITLE}?stats=1&buffer=4")
    state = wait_until(lambda: (s := player_state(page))["currentTime"] > 0.5 and s["servedBy"] and s, 30)
    first = state["servedBy"]
    assert first in {"east-1", "east-2"}, state
    assert state["sources"][0]["appliance"] == first
    stack.fleet.processes[first].kill()
    killed_at = player_state(page)["currentTime"]
    try:
        page.wait_for_function(
            "() => { const v = document.getElementById('video');"
            " return v.currentTime > 10 || v.ended || window.sfPlayer.fatal; }", timeout=45_000)
        screenshot(page, "watch-after-failover")
        state = player_state(page)
        assert state["fatal"] is None, state["fatal"]
        assert state["failovers"] >= 1, state
        assert state["servedBy"] != first
        assert state["currentTime"] > max(10.0, killed_at) or state["ended"]
        # The only errors are the dead appliance's failed requests, which the player routed around.
        assert console.unexpected((f"/api/relay/appliance/{first}/",)) == []
    finally:
        stack.fleet.start_service(first).wait_healthy(30)
        stack.fleet.wait_for_fleet(len(stack.fleet.specs))
