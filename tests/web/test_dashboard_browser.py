"""The dashboard in a real Chromium against one `polymon run --simulate` (embedded ClickHouse).

Every page is loaded at 1280x800 and at phone width (390x844) and must load with no console
error, no Content-Security-Policy violation and no request to a host other than 127.0.0.1.
On top: an alert fired by the simulated exchange appears on the overview within 1 s of its
`fired_at`; a trigger created and deleted through the form is created and deleted in the API
(and an invalid one shows the API's own error); the candle and depth charts draw (their
canvases hold pixels of the series' colours); no page is wider than a phone's screen.

Screenshots of every page at both widths (and `measurements.json`: the time from an alert's
`fired_at` to its row on the overview, and the pro tier's data requests left) go to
$SCREENSHOTS_DIR when set, else to `dashboard-screenshots*/` under pytest's temporary
directory.

Sync Playwright, so this module has no Trio tests (docs/ecosystem.md 2.10); it reuses the
docs page test's Chromium setup (Debian's `chromium`, no `playwright install`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from polymon.web.keys import KeyStore
from tests.web.test_docs_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    RECORD_VIOLATIONS,
    free_port,
    stop,
)

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="chromium is not installed (apt-get install -y chromium fonts-liberation)",
    ),
]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PAGES = ("overview", "triggers", "market", "metrics")
# The first time each alert row is in the DOM, by event id (the page's own code has no hooks).
RECORD_ALERT_ROWS = """
window.__alertRows = {};
new MutationObserver(() => {
  for (const row of document.querySelectorAll("tr[data-event-id]")) {
    const id = row.dataset.eventId;
    if (!(id in window.__alertRows)) {
      window.__alertRows[id] = {seenMs: Date.now(), firedAtUs: Number(row.dataset.firedAt)};
    }
  }
}).observe(document, {childList: true, subtree: true});
"""
# Pixels of a canvas close to an RGB colour, summed over the canvases under `selector`.
COUNT_PIXELS = """
([selector, rgb]) => {
  let n = 0;
  for (const canvas of document.querySelectorAll(selector + " canvas")) {
    if (!canvas.width || !canvas.height) continue;
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < data.length; i += 4) {
      const near = (k) => Math.abs(data[i + k] - rgb[k]) < 24;
      if (data[i + 3] > 200 && near(0) && near(1) && near(2)) n += 1;
    }
  }
  return n;
}
"""
UP_RGB = (0x08, 0x99, 0x81)  # --up in dashboard.css (light theme)
DOWN_RGB = (0xE5, 0x38, 0x3B)  # --down


def call(base: str, key: str, method: str, path: str, body: object = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{base}{path}", data=data, method=method,
        headers={"X-API-Key": key, "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@dataclass
class Service:
    base: str
    admin_key: str  # enterprise: the test's own API calls
    user_key: str  # pro: the browser's session, so the pages must keep within its limits
    asset: str  # a token whose book, candles and trades are all there
    screenshots: Path
    simulator: str  # the simulated exchange's control API (to make Gamma fail)


def wait_for(check: Any, what: str, limit_secs: float = 45.0) -> Any:
    deadline = time.monotonic() + limit_secs
    while True:
        try:
            result = check()
        except (OSError, urllib.error.HTTPError, KeyError, IndexError):
            result = None
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A real `polymon run --simulate` with storage, one for the module; yields its URL, keys
    and a token that has candles and trades."""
    tmp = tmp_path_factory.mktemp("dashboard")
    shots = os.environ.get("SCREENSHOTS_DIR")
    screenshots = Path(shots) if shots else tmp_path_factory.mktemp("dashboard-screenshots")
    screenshots.mkdir(parents=True, exist_ok=True)
    data = tmp / "data"
    keys = KeyStore(data)
    _, admin_key = keys.create("test", "enterprise")
    _, user_key = keys.create("browser", "pro")
    port = free_port()
    env = os.environ | {
        "POLYMON_SERVICE__DATA_DIR": str(data),
        "POLYMON_HTTP__PORT": str(port),
        "POLYMON_SIMULATOR__MARKETS": "4",
        "POLYMON_SIMULATOR__RATE_PER_SEC": "80",
        "POLYMON_SIMULATOR__TRADE_RATIO": "0.2",
        "POLYMON_STORAGE__BATCH_MAX_AGE_SECS": "0.2",
        # Often enough that a failing Gamma shows as job errors within seconds.
        "POLYMON_POLYMARKET__METADATA_REFRESH_SECS": "2",
    }
    # A receiver on loopback that refuses connections, tried once: alerts become dead letters.
    (tmp / "config.toml").write_text(
        "[webhooks]\nallow_private = true\nallowed_ports = []\nretry_schedule_secs = [0]\n"
    )
    log_path = tmp / "polymon.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "polymon", "run", "--simulate"],
        cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:

        def ready() -> str | None:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            if not call(base, admin_key, "GET", "/health")["bootstrapped"]:
                return None
            for market in call(base, admin_key, "GET", "/api/v1/markets?limit=10")["items"]:
                asset = market["token_ids"][0]
                candles = call(base, admin_key, "GET", f"/api/v1/ohlc/{asset}?hours=1")
                trades = call(base, admin_key, "GET", f"/api/v1/markets/{asset}/trades?limit=3")
                book = call(base, admin_key, "GET", f"/api/v1/markets/{asset}/orderbook")
                if candles["candles"] and trades["count"] >= 3 and book["bids"] and book["asks"]:
                    return str(asset)
            return None

        asset = wait_for(ready, "a token with candles, trades and a two-sided book")
        simulator = log_path.read_text().split("simulated exchange on ", 1)[1].split()[0]
        yield Service(base, admin_key, user_key, asset, screenshots, simulator)
    finally:
        stop(proc, log)


@dataclass
class Browser:
    """What a browser context saw: every request URL, console errors, uncaught errors."""

    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    allowed_errors: list[str] = field(default_factory=list)  # substrings of expected ones
    remaining: list[int] = field(default_factory=list)  # X-RateLimit-Remaining, data routes

    def watch(self, context: Any, page: Any) -> None:
        context.on("request", lambda request: self.requests.append(request.url))
        context.on("response", self._rate)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on(
            "console",
            lambda m: self.console_errors.append(m.text) if m.type == "error" else None,
        )

    def _rate(self, response: Any) -> None:
        headers = response.headers
        if headers.get("x-ratelimit-limit") == "120":  # the pro tier's data routes
            self.remaining.append(int(headers["x-ratelimit-remaining"]))

    def check(self, page: Any, base: str) -> None:
        remote = [url for url in self.requests if urlsplit(url).scheme not in ("data", "blob")]
        assert remote
        assert all(urlsplit(url).hostname == "127.0.0.1" for url in remote), remote
        assert not self.page_errors
        unexpected = [
            e for e in self.console_errors if not any(a in e for a in self.allowed_errors)
        ]
        assert not unexpected, unexpected
        assert page.evaluate("window.__cspViolations") == []


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_dashboard(
    chromium: Any, service: Service, viewport: dict[str, int]
) -> tuple[Any, Any, Browser]:
    context = chromium.new_context(viewport=viewport)
    context.add_init_script(RECORD_VIOLATIONS)
    context.add_init_script(RECORD_ALERT_ROWS)
    page = context.new_page()
    seen = Browser()
    seen.watch(context, page)
    page.goto(f"{service.base}/", wait_until="domcontentloaded")
    page.wait_for_selector("#login")
    return context, page, seen


def log_in(page: Any, key: str) -> None:
    page.fill("#api-key", key)
    page.click("#login button[type=submit]")
    page.wait_for_selector("#page-overview")


def shoot(page: Any, service: Service, name: str) -> None:
    page.mouse.move(0, 0)  # no hover highlight or chart crosshair in the picture
    page.screenshot(path=str(service.screenshots / f"{name}.png"), full_page=True)


def show(page: Any, hash_: str, ready: str) -> None:
    page.evaluate("(h) => { location.hash = h; }", hash_)
    page.wait_for_selector(ready)


def filled(selector: str) -> str:
    """A JS condition: the element's text is a value, not the "–" shown before data."""
    return f"(document.querySelector({json.dumps(selector)})?.textContent || '–').trim() !== '–'"


# What each page shows once its data is in (waited for before a screenshot). Functions, not
# bare expressions: Playwright would `eval` those, which the page's policy refuses.
LOADED = {
    "overview": "() => " + " && ".join((
        "document.querySelector('#page-overview td') !== null",
        filled("#page-overview .stats .stat:nth-child(3) .stat-value"),  # frames/s: 2 readings
    )),
    "triggers": "() => " + " && ".join((
        filled("#registry h2 .badge"),
        filled("#dead-letters h2 .badge"),
    )),
    "market": "() => " + " && ".join((
        "document.querySelector('.market-title') !== null",
        "document.querySelector('#ladder tr.bid') !== null",
        "document.querySelector('#trades tbody td.num') !== null",
    )),
    "metrics": "() => " + " && ".join((
        filled("#latency tbody tr:first-child td:nth-child(2)"),  # frames/s: 2 readings
        "document.querySelector('#jobs tbody td.num') !== null",
        "[...document.querySelectorAll('#http td')].some((td) => td.textContent.includes("
        "'/api/v1/markets/<asset_id>/orderbook'))",
    )),
}  # fmt: skip


def test_every_page_at_desktop_width(chromium: Any, service: Service) -> None:
    context, page, seen = open_dashboard(chromium, service, DESKTOP)
    try:
        shoot(page, service, "login-desktop")
        log_in(page, service.user_key)
        assert page.evaluate("document.cookie") == ""  # the session cookie is HttpOnly

        # -- overview: feed state, and a live alert within 1 s of firing ----------------------
        page.wait_for_selector("#page-overview td:has-text('shard-')")
        page.wait_for_selector("#alerts .badge:has-text('live')")  # the SSE stream is open
        refused = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens: a dead letter
        trigger = call(service.base, service.admin_key, "POST", "/triggers", {
            "asset_id": service.asset, "cooldown_ms": 0, "webhook_url": refused,
            "condition": {"type": "PRICE_ABOVE", "threshold": "0", "side": "MID"},
        })["trigger_id"]  # fmt: skip
        row = f"tr[data-event-id]:has-text('{trigger[-5:]}')"
        page.wait_for_selector(f"#alerts {row}", timeout=15_000)
        events = call(service.base, service.admin_key, "GET", "/api/v1/triggers/events")
        fired = [e for e in events["events"] if e["data"]["trigger_id"] == trigger]
        assert len(fired) == 1
        seen_rows = page.evaluate("window.__alertRows")
        shown = seen_rows[str(fired[0]["id"])]
        assert shown["firedAtUs"] == fired[0]["data"]["fired_at"]
        delay_ms = shown["seenMs"] - shown["firedAtUs"] / 1000
        assert delay_ms < 1000, delay_ms
        page.wait_for_function(LOADED["overview"])
        shoot(page, service, "overview-desktop")

        # -- triggers: an invalid spec shows the API's error; create and delete ---------------
        show(page, f"#/triggers?asset={service.asset}", "#trigger-form")
        assert page.input_value("#t-asset") == service.asset
        page.select_option("#t-type", "PRICE_ABOVE")
        page.fill("#param-threshold", "2")
        seen.allowed_errors.append("the server responded with a status of 400")
        page.click("#trigger-form button[type=submit]")
        error = page.wait_for_selector("#trigger-error")
        assert "`threshold` must be a number in [0, 1)" in error.inner_text()

        page.select_option("#t-type", "IMBALANCE_SHIFT")
        page.fill("#param-delta", "1.5")
        page.fill("#param-window_ms", "30000")
        page.fill("#param-levels", "3")
        page.click("#trigger-form summary")
        page.fill("#t-cooldown", "2500")
        page.click("#trigger-form button[type=submit]")
        created = page.wait_for_selector("#trigger-created .mono").inner_text()
        listing = call(service.base, service.admin_key, "GET", "/triggers")["triggers"]
        (registered,) = [t for t in listing if t["trigger_id"] == created]
        assert registered["asset_id"] == service.asset
        assert registered["condition"] == {
            "type": "IMBALANCE_SHIFT", "delta": "1.5", "window_ms": 30000, "levels": 3,
        }  # fmt: skip
        assert registered["cooldown_ms"] == 2500
        page.wait_for_selector(f"tr[data-trigger-id='{created}']")
        page.wait_for_function(LOADED["triggers"])
        shoot(page, service, "triggers-desktop")
        page.click(f"tr[data-trigger-id='{created}'] button:has-text('Delete')")
        page.click(f"tr[data-trigger-id='{created}'] button:has-text('Confirm')")
        page.wait_for_selector(f"tr[data-trigger-id='{created}']", state="detached")
        listing = call(service.base, service.admin_key, "GET", "/triggers")["triggers"]
        assert created not in [t["trigger_id"] for t in listing]

        # The alert's webhook delivery failed: its dead letter, replayed from the page.
        letter = page.wait_for_selector(f"#dead-letters tr[data-webhook-id]:has-text('{trigger}')")
        webhook_id = letter.get_attribute("data-webhook-id")
        letter.query_selector("button:has-text('Replay')").click()
        page.wait_for_selector(f"#dead-letters .notice:has-text('Queued {webhook_id} again')")
        metrics = urllib.request.urlopen(f"{service.base}/metrics", timeout=10).read().decode()
        assert "polymon_webhook_replayed_total 1.0" in metrics
        call(service.base, service.admin_key, "DELETE", f"/triggers?trigger_id={trigger}")

        # -- market: search, then one token's charts, ladder and trades -----------------------
        show(page, "#/market", "#market-search .results li")
        shoot(page, service, "market-search-desktop")
        page.click(f"#market-search a[href='#/market/{service.asset}']")
        page.wait_for_selector("#ladder tr.bid")
        page.wait_for_selector("#trades tbody td.num")
        page.wait_for_function(
            f"() => ({COUNT_PIXELS})(['#candle-chart', {list(UP_RGB)}])"
            f" + ({COUNT_PIXELS})(['#candle-chart', {list(DOWN_RGB)}]) > 100"
        )
        page.wait_for_function(
            f"() => ({COUNT_PIXELS})(['#depth-chart', {list(UP_RGB)}]) > 50"
            f" && ({COUNT_PIXELS})(['#depth-chart', {list(DOWN_RGB)}]) > 50"
        )
        assert page.locator("#candle-chart a#tv-attr-logo").count() == 1  # the attribution
        page.wait_for_function(LOADED["market"])
        shoot(page, service, "market-desktop")

        # -- metrics -------------------------------------------------------------------------
        show(page, "#/metrics", "#latency tbody td.num")
        page.wait_for_function(LOADED["metrics"])
        assert page.locator("#jobs td:has-text('snapshots')").count() == 1
        shoot(page, service, "metrics-desktop")
        seen.check(page, service.base)
        # The pages kept within the pro tier's 120 data requests a minute (no 429 either:
        # it would be a console error).
        assert seen.remaining
        (service.screenshots / "measurements.json").write_text(json.dumps({
            "alert_fired_at_us": shown["firedAtUs"], "alert_shown_after_ms": delay_ms,
            "pro_data_requests": len(seen.remaining),
            "pro_data_min_remaining": min(seen.remaining),
        }))  # fmt: skip
    finally:
        context.close()


def test_every_page_at_phone_width(chromium: Any, service: Service) -> None:
    context, page, seen = open_dashboard(chromium, service, PHONE)
    try:
        shoot(page, service, "login-phone")
        log_in(page, service.user_key)
        for name in PAGES:
            target = f"#/market/{service.asset}" if name == "market" else f"#/{name}"
            show(page, target, f"#page-{name}")
            page.wait_for_function(LOADED[name])
            if name == "market":
                page.wait_for_function(
                    f"() => ({COUNT_PIXELS})(['#depth-chart', {list(DOWN_RGB)}]) > 20"
                )
            # Wide tables scroll inside their cards; the page itself never scrolls sideways.
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], (name, width)
            shoot(page, service, f"{name}-phone")
        seen.check(page, service.base)
    finally:
        context.close()


def test_depth_grid_and_poll_budget_in_the_page(chromium: Any, service: Service) -> None:
    """The two pure functions the charts and polling rest on, run in the browser."""
    context = chromium.new_context()
    page = context.new_page()
    try:
        page.goto(f"{service.base}/", wait_until="domcontentloaded")
        out = page.evaluate(
            """async () => {
              const { depthSeries } = await import("/static/dashboard/charts.js");
              const { sharedPeriod } = await import("/static/dashboard/api.js");
              const bids = [{price: "0.48", size: "10"}, {price: "0.46", size: "5"},
                            {price: "0.40", size: "100"}];
              const asks = [{price: "0.50", size: "7"}, {price: "0.53", size: "1"}];
              const pollers = [{cls: "data", periodMs: 1000}, {cls: "data", periodMs: 5000},
                               {cls: "admin", periodMs: 1000}];
              return {
                depth: depthSeries(bids, asks),
                periods: [sharedPeriod("data", 1000, 120, pollers),
                          sharedPeriod("data", 1000, 60, pollers),
                          sharedPeriod("data", 5000, 60, pollers),
                          sharedPeriod("exempt", 1000, 60, pollers),
                          sharedPeriod("data", 1000, null, pollers)],
              };
            }"""
        )
    finally:
        context.close()
    # Ticks of 0.01, symmetric: 3 ticks (the ask side's span) below the best bid and above
    # the best ask; the level at 0.40 is outside, whitespace (no value) inside the spread.
    bids = [(p["time"], p.get("value")) for p in out["depth"]["bids"]]
    asks = [(p["time"], p.get("value")) for p in out["depth"]["asks"]]
    grid = [0.45, 0.46, 0.47, 0.48, 0.49, 0.5, 0.51, 0.52, 0.53]
    assert [round(t, 6) for t, _ in bids] == grid == [round(t, 6) for t, _ in asks]
    assert [v for _, v in bids] == [15, 15, 10, 10, None, None, None, None, None]
    assert [v for _, v in asks] == [None, None, None, None, None, 7, 7, 7, 8]
    # 60 + 12 data requests a minute: within 70 % of 120; stretched x72/42 for a limit of 60.
    assert out["periods"][0] == 1000
    assert out["periods"][1] == pytest.approx(1000 * 72 / 42)
    assert out["periods"][2] == pytest.approx(5000 * 72 / 42)
    assert out["periods"][3:] == [1000, 1000]


def test_clear_errors_on_the_metrics_page(chromium: Any, service: Service) -> None:
    """Failed jobs are listed on the metrics page, and its button clears them in the service."""

    def jobs() -> dict[str, Any]:
        return call(service.base, service.admin_key, "GET", "/cron/health")["data"]["jobs"]  # type: ignore[no-any-return]

    def recorded_errors() -> int:
        return sum(len(job["recent_errors"]) for job in jobs().values())

    context, page, seen = open_dashboard(chromium, service, DESKTOP)
    fail = urllib.request.Request(f"{service.simulator}/simulator/gamma/fail", method="POST")
    urllib.request.urlopen(fail, timeout=10).close()
    try:
        wait_for(lambda: recorded_errors() >= 1, "a failed metadata_refresh run")
    finally:
        recover = urllib.request.Request(
            f"{service.simulator}/simulator/gamma/recover", method="POST"
        )
        urllib.request.urlopen(recover, timeout=10).close()
    # A run after Gamma recovered succeeded: no failure can be recorded after the click.
    wait_for(lambda: (jobs()["metadata_refresh"]["last_run"] or {}).get("ok"), "a good run")
    try:
        log_in(page, service.user_key)
        show(page, "#/metrics", "#jobs")
        page.wait_for_selector("#clear-errors:not([disabled])", timeout=15_000)
        page.click("#clear-errors")
        notice = page.wait_for_selector("#jobs .notice:has-text('Cleared')")
        cleared = int(notice.inner_text().split()[1])
        assert cleared >= 1
        page.wait_for_selector("#jobs td:has-text('No recorded error.')")
        page.wait_for_selector("#clear-errors[disabled]")
        # Gamma answers again, so no run since has failed: the service holds no error now.
        assert recorded_errors() == 0
        seen.check(page, service.base)
    finally:
        context.close()
