"""The timeline in a real browser: Debian's headless Chromium driven by Selenium against the served pages.

Checks where the bars are drawn (pixels, against the store's times), that the metric charts draw,
clicks through a step to its audit and downloads the CSV, and saves screenshots of the timeline and a
step page in the test's output folder, checked for content. Without chromium the tests skip, saying
why; in CI (CI=true) they fail instead, since .ci/run installs it.
"""

from __future__ import annotations

import csv
import os
import shutil
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from tests.web.served import Served

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
if not (CHROMIUM and DRIVER):
    if os.environ.get("CI") == "true":
        pytest.fail("CI must run the browser tests: .ci/run installs chromium and chromium-driver", pytrace=False)
    pytest.skip(
        "Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

WAIT_SECONDS = 60  # an upper bound for the page to settle on a loaded machine, never a pace


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[tuple[WebDriver, Path]]:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--window-size=1600,1400",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    try:
        yield driver, downloads
    finally:
        driver.quit()


def non_blank(path: Path) -> None:
    image = Image.open(path).convert("L")
    assert image.size[0] > 800 and image.size[1] > 600
    assert ImageStat.Stat(image).stddev[0] > 10, f"{path} looks blank"
    assert len(image.getcolors(maxcolors=1_000_000) or []) > 20, f"{path} has too few colours to be a page"


def wait_for_file(folder: Path, suffix: str) -> Path:
    """A bounded poll for the browser's download to land (its own pace, never asserted)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        done = [p for p in folder.iterdir() if p.name.endswith(suffix)]
        if done:
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no {suffix} download in {folder}: {list(folder.iterdir())}")


def test_the_timeline_draws_each_bar_where_the_store_says_and_its_charts(
    served: Served, run_id: str, browser: tuple[WebDriver, Path], tmp_path: Path
) -> None:
    driver, _ = browser
    driver.get(f"{served.base_url}/runs/{run_id}")
    WebDriverWait(driver, WAIT_SECONDS).until(
        lambda d: all(f.get_attribute("data-drawn") for f in d.find_elements(By.CSS_SELECTOR, "figure.chart"))
    )
    section = driver.find_element(By.ID, "timeline")
    axis_start = datetime.fromisoformat(str(section.get_attribute("data-axis-start")))
    axis_end = datetime.fromisoformat(str(section.get_attribute("data-axis-end")))
    assert served.bot is not None
    executions = served.call(served.bot.store.executions(run_id))
    bars = driver.find_elements(By.CSS_SELECTOR, "a.bar")
    assert bars
    for bar in bars:
        step, env = bar.get_attribute("data-step"), bar.get_attribute("data-env")
        ran = [e for e in executions if e.step_id == step and e.environment == env]
        start = min(e.started_at for e in ran)
        track = bar.find_element(By.XPATH, "..")
        share = (start - axis_start) / (axis_end - axis_start)
        expected_x = track.rect["x"] + share * track.rect["width"]
        assert abs(bar.rect["x"] - expected_x) <= 2, (step, env, bar.rect, expected_x)
        assert bar.rect["width"] >= 1
    lines = driver.find_elements(By.CSS_SELECTOR, "figure.chart[data-trigger='error_rate'] svg polyline.line")
    assert len(lines) == 1 and driver.find_elements(By.CSS_SELECTOR, "figure.chart svg rect.alert-window")
    shot = tmp_path / "output" / "timeline.png"
    shot.parent.mkdir(exist_ok=True)
    assert driver.save_screenshot(str(shot))
    non_blank(shot)


def test_a_step_leads_to_its_audit_and_the_audit_downloads_as_csv(
    served: Served, run_id: str, browser: tuple[WebDriver, Path], tmp_path: Path
) -> None:
    driver, downloads = browser
    driver.get(f"{served.base_url}/runs/{run_id}")
    driver.find_element(By.CSS_SELECTOR, "a.step-link[href$='/steps/day2.1']").click()
    WebDriverWait(driver, WAIT_SECONDS).until(lambda d: d.current_url.endswith("/steps/day2.1"))
    assert "day2.1" in driver.find_element(By.TAG_NAME, "h1").text
    assert driver.find_elements(By.CSS_SELECTOR, "pre.snapshot.before")
    shot = tmp_path / "output" / "step.png"
    shot.parent.mkdir(exist_ok=True)
    assert driver.save_screenshot(str(shot))
    non_blank(shot)

    driver.find_element(By.ID, "step-audit-link").click()
    WebDriverWait(driver, WAIT_SECONDS).until(lambda d: "/audit?step=day2.1" in d.current_url)
    shown = driver.find_elements(By.CSS_SELECTOR, "tr.audit-entry")
    assert shown and all("day2.1" in row.find_elements(By.TAG_NAME, "td")[2].text for row in shown)

    driver.find_element(By.ID, "download-csv").click()
    saved = wait_for_file(downloads, ".csv")
    rows = list(csv.DictReader(saved.open(encoding="utf-8")))
    assert [r["id"] for r in rows] == [row.get_attribute("data-id") for row in shown]


def test_the_metric_charts_share_the_timelines_axis(
    served: Served, run_id: str, browser: tuple[WebDriver, Path]
) -> None:
    driver, _ = browser
    driver.get(f"{served.base_url}/runs/{run_id}")
    track = driver.find_element(By.CSS_SELECTOR, ".row.step-row .track")
    for chart in driver.find_elements(By.CSS_SELECTOR, "figure.chart svg"):
        assert abs(chart.rect["x"] - track.rect["x"]) <= 2 and abs(chart.rect["width"] - track.rect["width"]) <= 3
