"""Every page: labelled form fields, a working skip link, no sideways scrolling at phone width,
and no console errors."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from .browser import ConsoleWatch
from .conftest import screenshot
from .flows import log_in
from .stack import TITLE, Stack

pytestmark = pytest.mark.e2e

PHONE: ViewportSize = {"width": 390, "height": 844}
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(e => e.type !== 'hidden' && e.offsetParent !== null)
  .filter(e => !(e.labels && e.labels.length))
  .filter(e => !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
  .map(e => e.id || e.name || e.outerHTML)"""
OVERFLOW = "() => document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"


def _check_page(page: Page, url: str, name: str, ready: str) -> None:
    page.goto(url)
    expect(page.locator(ready).first).to_be_visible()
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    assert page.evaluate(UNLABELLED) == [], f"{name}: form fields without a label"
    assert page.evaluate(OVERFLOW) <= 0, f"{name}: wider than a phone screen"
    screenshot(page, f"phone-{name}")


def test_pages_are_labelled_and_fit_a_phone(stack: Stack, page: Page, console: ConsoleWatch) -> None:
    base = stack.web_url
    page.set_viewport_size(PHONE)
    _check_page(page, f"{base}/login", "login", "#login-form")
    _check_page(page, f"{base}/signup", "signup", "#signup-form")
    log_in(page, base, stack.users["operator"])
    _check_page(page, f"{base}/", "home", "#popular a[data-title]")
    _check_page(page, f"{base}/search?q=harbour", "search", "#results a[data-title]")
    _check_page(page, f"{base}/titles/{TITLE}", "title", "#play")
    _check_page(page, f"{base}/upload", "upload", "#upload-form")
    _check_page(page, f"{base}/ops", "ops", "#appliances tbody tr")
    assert console.errors == []


def test_keyboard_reaches_the_content_first(stack: Stack, page: Page, console: ConsoleWatch) -> None:
    base = stack.web_url
    page.goto(f"{base}/")
    expect(page.locator("#popular a[data-title]").first).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()
    # From the content, Tab lands on the first title card, and Enter opens it.
    page.keyboard.press("Tab")
    expect(page.locator("#popular a[data-title]").first).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/titles/{TITLE}")
    expect(page.get_by_role("link", name="Play")).to_be_visible()
    assert console.errors == []
