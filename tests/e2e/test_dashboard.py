"""The dashboard in a real browser (Playwright driving Debian's chromium through
`executable_path`; nothing downloaded) against a real cluster: counters posted over HTTP show
without a reload within 2 s, the host panel ticks, the chart draws posted samples at each step,
the page fits a phone's width, is reached by keyboard, logs no console error, and reconnects
after the node serving it is killed and restarted."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from cluster.common.timeutil import rfc3339
from cluster.ops.local import LocalCluster
from scripts import debian

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(180)]
SCREENSHOT = Path(__file__).parents[2] / "docs" / "dashboard.png"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path_factory.mktemp("dashboard")) as started:
        yield started


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = debian.require("chromium", "chromium", "the dashboard's browser tests")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def opened(browser: Browser, cluster: LocalCluster) -> Iterator[tuple[Page, list[str]]]:
    """The page from node 0, live, and the console errors it logs."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []

    def noted(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", noted)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(cluster.urls[0] + "/")
    expect(page.locator("#status")).to_have_text("live", timeout=15_000)
    yield page, errors
    page.close()
    assert errors == [], "console errors"  # a test expecting some removes them from the list


def test_counters_posted_over_http_show_within_two_seconds(opened, cluster):
    page, errors = opened
    label = f"e2e_{time.time_ns()}"
    posted = httpx.post(f"{cluster.urls[1]}/metrics", json={"labels": [label], "increment": 3})
    assert posted.status_code == 200
    row = page.locator(f'tr[data-label="{label}"] td.number')
    expect(row).to_have_text("3", timeout=2_000)
    httpx.post(f"{cluster.urls[2]}/metrics", json={"labels": [label], "increment": 4})
    expect(row).to_have_text("7", timeout=2_000)
    page.fill("#filter", label)
    expect(page.locator("#counters tr")).to_have_count(1)


def test_the_host_panel_ticks_every_second(opened):
    page, _ = opened
    expect(page.locator("article.host").first).to_be_visible(timeout=10_000)
    name = page.locator("article.host").first.get_attribute("data-host")
    host = page.locator(f'article.host[data-host="{name}"]')  # this one host, not the first
    first = host.get_attribute("data-at")
    expect(host).not_to_have_attribute("data-at", first or "", timeout=5_000)
    expect(host.locator('[data-gauge="cpu_usage"] polyline')).to_have_count(1)


def test_sparklines_start_from_the_rows_the_node_holds(opened):
    page, _ = opened  # the agents have posted a row a second since the cluster started
    gauge = page.locator('article.host [data-gauge="cpu_usage"]').first
    # Pushes alone give one point a second; five points within two seconds come from the seed.
    expect(gauge).to_have_attribute("data-points", re.compile(r"^([5-9]|[1-9]\d)$"), timeout=2_000)
    points = gauge.locator("polyline").get_attribute("points") or ""
    assert len(points.split()) >= 5


def test_the_chart_draws_the_posted_samples_at_each_step(opened, cluster):
    page, _ = opened
    name = f"e2e_chart_{time.time_ns()}"
    now = time.time()
    values = [float(10 + i) for i in range(10)]  # one a minute over the last 10 minutes
    samples = [
        {"timestamp": rfc3339(now - 60 * (10 - i) + 1), "name": name, "value": value}
        for i, value in enumerate(values)
    ]
    assert httpx.post(f"{cluster.urls[0]}/v1/metrics", json=samples).status_code == 201
    page.select_option("#range", "900")
    page.select_option("#step", "60")
    page.fill("#expression", name)
    page.click("#chart-form button")
    chart = page.locator("#chart")
    expect(chart.locator("canvas")).to_have_count(1, timeout=5_000)
    times, series = json.loads(chart.get_attribute("data-drawn") or "[[], []]")
    assert {b - a for a, b in zip(times, times[1:], strict=False)} == {60}  # a step a minute
    at_steps = [v for v in series if v is not None]
    # each sample is the newest at one step, in order (the last repeats within the lookback)
    assert [v for i, v in enumerate(at_steps) if i == 0 or v != at_steps[i - 1]] == values


def test_the_page_fits_a_phone_and_is_reached_by_keyboard(browser, cluster):
    page = browser.new_page(viewport={"width": 360, "height": 740})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(cluster.urls[2] + "/")
    expect(page.locator("#status")).to_have_text("live", timeout=15_000)
    expect(page.locator("article.host").first).to_be_visible(timeout=10_000)
    expect(page.locator("#actor")).to_be_visible(timeout=10_000)
    page.fill("#expression", "time()")
    page.click("#chart-form button")
    expect(page.locator("#chart canvas")).to_have_count(1, timeout=5_000)
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"{wide} px of horizontal scroll at phone width"
    page.focus("body")
    reached = []
    for _ in range(8):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
    order = [r for i, r in enumerate(reached) if r not in reached[:i] and r != "BODY"]
    assert order[:6] == ["filter", "metric", "expression", "range", "step", "BUTTON"], reached
    assert errors == []
    for field in ("filter", "metric", "expression", "range", "step"):  # each named by a label
        assert page.locator(f'label[for="{field}"]').count() == 1
    page.close()


def test_a_screenshot_for_the_readme(opened, cluster):
    page, _ = opened
    httpx.post(f"{cluster.urls[0]}/metrics", json={"labels": ["page_views"], "increment": 42})
    expect(page.locator('tr[data-label="page_views"]')).to_be_visible(timeout=2_000)
    expect(page.locator("article.host").first).to_be_visible(timeout=10_000)
    expect(page.locator('article.host [data-gauge="cpu_usage"]').first).not_to_have_attribute(
        "data-points", "1", timeout=5_000
    )  # a line, not a dot
    page.select_option("#range", "900")
    page.fill("#expression", "host_cpu_usage")
    page.click("#chart-form button")
    expect(page.locator("#chart canvas")).to_have_count(1, timeout=5_000)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000


def test_the_page_reconnects_after_its_node_is_killed_and_restarted(opened, cluster):
    page, errors = opened  # the killed node's refused connections are console errors here
    pid = cluster.pids()[cluster.names[0]]
    os.kill(pid, signal.SIGKILL)  # the supervisor restarts it
    expect(page.locator("#status")).to_have_text("reconnecting…", timeout=10_000)
    expect(page.locator("#status")).to_have_text("live", timeout=60_000)
    label = f"e2e_back_{time.time_ns()}"
    httpx.post(f"{cluster.urls[1]}/metrics", json={"labels": [label], "increment": 5})
    expect(page.locator(f'tr[data-label="{label}"] td.number')).to_have_text("5", timeout=2_000)
    # Expected while its node is down or starting: refused sockets, failed or 503 fetches.
    down = ("ERR_CONNECTION_REFUSED", "WebSocket", "Failed to load resource")
    errors[:] = [e for e in errors if not any(mark in e for mark in down)]


def test_a_screen_reader_finds_every_part_named(opened):
    page, _ = opened
    expect(page.locator("article.host").first).to_be_visible(timeout=10_000)
    page.fill("#expression", "host_cpu_usage")
    page.click("#chart-form button")
    expect(page.locator("#chart canvas")).to_have_count(1, timeout=5_000)
    # What the accessibility tree holds, as a screen reader reads it (a partial match: every
    # node named here must be there, in this order; `\s` where YAML forbids ": ").
    expect(page.locator("body")).to_match_aria_snapshot(
        r"""
        - banner:
          - heading "metrics cluster" [level=1]
          - status: live
        - main:
          - region "Hosts":
            - article /host .+/:
              - heading [level=3]
              - text: /CPU [\d.]+% Memory [\d.]+% Disk [\d.]+%/
          - region "Counters":
            - searchbox "Filter"
            - table "Counters and their values":
              - rowgroup:
                - row:
                  - columnheader "label"
                  - columnheader "value"
          - region "Chart":
            - combobox "Metric"
            - textbox "Expression (PromQL)"
            - combobox "Range"
            - combobox "Step"
            - button "Draw"
            - status: /host_cpu_usage:\s[1-9]\d* series, [1-9]\d* points?/
            - figure /Chart of host_cpu_usage over 1 hour:\s[1-9]\d* series .+ points?/
          - region "Cluster":
            - list:
              - listitem: /up node-\d+ \(this page's node\)/
            - paragraph: /actor:\salive, pid \d+, epoch \d+/
        """
    )
    assert "Free step" not in page.locator("body").aria_snapshot()  # hidden with its input
    page.select_option("#step", "free")
    expect(page.get_by_role("textbox", name="Free step")).to_be_visible()
