"""The report page in a real browser: headless Chromium (Debian's chromium and
chromium-driver, through selenium) loads report.html from disk. No console error, every
chart drawn (its SVG has a non-zero box), one section per claim with a verdict, nothing
fetched from the network; a screenshot is saved in the test's temp dir."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kubenetlab.claims import MODULES, VERDICTS
from kubenetlab.cli import main
from tests.unit.test_report import RESULTS

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture
def browser(tmp_path: Path):
    if not (os.path.exists(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are missing: make setup installs them")
        pytest.skip("no chromium/chromedriver (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-sync",
                 "--disable-component-update", "--window-size=1200,900",
                 f"--user-data-dir={tmp_path / 'profile'}"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_report_renders_in_chromium(browser, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    assert main(["report", *map(str, sorted(RESULTS.glob("*.json"))), "--html", str(page)]) == 0
    browser.get(page.as_uri())
    from selenium.webdriver.common.by import By

    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    sections = browser.find_elements(By.CSS_SELECTOR, "section.claim[data-verdict]")
    assert len(sections) == len(MODULES)
    for section in sections:
        assert section.get_attribute("data-verdict") in VERDICTS
        badge = section.find_element(By.CSS_SELECTOR, "h2 .verdict")
        assert badge.text.split(" on ")[0] in VERDICTS
        assert section.find_element(By.CSS_SELECTOR, "p.reasoning").text.strip()
    charts = browser.find_elements(By.CSS_SELECTOR, "figure.chart svg")
    assert len(charts) >= 8  # every claim with a result draws one
    for svg in charts:
        box = browser.execute_script(
            "const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", svg
        )
        assert box[0] > 100 and box[1] > 50
        assert svg.find_elements(By.CSS_SELECTOR, "path, rect, use")  # bars were drawn
    fetched = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert fetched == []
    browser.set_window_size(1200, 900)
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
