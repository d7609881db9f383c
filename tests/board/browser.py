"""Headless Chromium (Debian's, driven by Playwright) for the board's pages.

No browser is downloaded: Playwright drives /usr/bin/chromium. Pages are checked for console
errors (a CSP violation is one) and for charts that the browser really laid out.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ARTIFACTS = Path(os.environ.get("FATECTL_ARTIFACTS", Path(__file__).resolve().parents[2] / ".artifacts"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRED_ENV = "FATECTL_BROWSER"  # CI sets 1: a missing browser is then a failure, never a skip


@dataclass
class PageReport:
    url: str
    status: int
    console_errors: list[str] = field(default_factory=list)
    charts: list[dict[str, Any]] = field(default_factory=list)  # title, width, height of each chart <svg>
    graphs: list[dict[str, Any]] = field(default_factory=list)  # the same of each pipeline graph <svg>
    text: str = ""  # what the page's <main> says, as rendered
    screenshot: Path | None = None


def require_chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get(REQUIRED_ENV) == "1":
            pytest.fail(f"{REQUIRED_ENV}=1 but no chromium on PATH (apt-get install chromium)", pytrace=False)
        pytest.skip(f"no chromium on PATH (set {REQUIRED_ENV}=1 to make this a failure)")
    return CHROMIUM


@contextmanager
def browser_session(user: str, password: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = require_chromium()
    with sync_playwright() as play:
        browser = play.chromium.launch(
            executable_path=executable,
            # As root in CI there is no user namespace for the sandbox; the pages are our own.
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        context = browser.new_context(http_credentials={"username": user, "password": password},
                                      viewport={"width": 1280, "height": 900})
        try:
            yield context
        finally:
            context.close()
            browser.close()


def visit(context: Any, url: str, name: str) -> PageReport:
    page = context.new_page()
    report = PageReport(url, 0)
    page.on("console", lambda m: report.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: report.console_errors.append(str(e)))
    response = page.goto(url, wait_until="load")
    report.status = response.status if response is not None else 0
    laid_out = (
        "els => els.map(e => ({title: (e.querySelector('title') || {}).textContent || '',"
        " width: e.getBoundingClientRect().width, height: e.getBoundingClientRect().height,"
        " links: e.querySelectorAll('a').length}))"
    )
    report.charts = page.eval_on_selector_all("svg.chart", laid_out)
    report.graphs = page.eval_on_selector_all("svg.dag", laid_out)
    report.text = page.inner_text("main")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report.screenshot = ARTIFACTS / f"board-{name}.png"
    page.screenshot(path=str(report.screenshot), full_page=True)
    page.close()
    return report
