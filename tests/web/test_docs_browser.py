"""The docs page in a real Chromium against `polymon run --simulate`.

Scalar must render the service's own OpenAPI document without "document validation errors"
(it checks the document against its own model and only warns, on the console), and the browser
must ask nothing of any host but 127.0.0.1. Requests that the Content-Security-Policy blocks
never reach the network, so they are caught as `securitypolicyviolation` events rather than as
requests.

Sync Playwright, so this module has no Trio tests (docs/ecosystem.md 2.10). Needs Debian's
`chromium` (`apt-get install chromium fonts-liberation`); no `playwright install`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import pytest

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The bundle's copy of zod probes for eval with `new Function("")` inside try/catch and falls
# back when the policy refuses; that refusal is the one violation the page is allowed.
EVAL_PROBE = {"directive": "script-src", "blocked": "eval"}
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(
  {directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber}
));
"""
# Scalar warns "document validation errors: " and then, in a second warning, the errors as
# objects (message, path, schema, value), which the console event shows only as "[Object, ...]";
# so record warnings as JSON, without the bulky schema and value.
RECORD_WARNINGS = """
window.__warnings = [];
const warn = console.warn;
console.warn = (...args) => {
  window.__warnings.push(args.map((a) => {
    try {
      return JSON.stringify(a, (k, v) => (k === "schema" || k === "value" ? undefined : v));
    } catch {
      return String(a);
    }
  }).join(" "));
  warn.apply(console, args);
};
"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="chromium is not installed (apt-get install -y chromium fonts-liberation)",
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.loads(response.read())


@pytest.fixture
def service(tmp_path: Path) -> Iterator[str]:
    """A real `polymon run --simulate` on a free loopback port; yields its base URL."""
    port = free_port()
    env = os.environ | {
        "POLYMON_SERVICE__DATA_DIR": str(tmp_path / "data"),
        "POLYMON_HTTP__PORT": str(port),
        "POLYMON_STORAGE__ENABLED": "false",
        "POLYMON_SIMULATOR__MARKETS": "5",
    }
    log = (tmp_path / "polymon.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "polymon", "run", "--simulate"],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "polymon.log").read_text()
            assert time.monotonic() < deadline, "polymon did not answer /health within 60 s"
            try:
                get_json(f"{base}/health")
                break
            except (OSError, urllib.error.HTTPError):
                time.sleep(0.2)
        yield base
    finally:
        stop(proc, log)


def stop(proc: subprocess.Popen[bytes], log: IO[str]) -> None:
    """End a service started here: SIGTERM, 30 s to exit, then SIGKILL; close its log."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def operation_paths(spec: dict[str, Any]) -> list[str]:
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return [path for path, item in spec["paths"].items() if methods & set(item)]


def test_docs_page_renders_the_spec_without_leaving_loopback(service: str) -> None:
    spec = get_json(f"{service}/api/v1/openapi.json")
    title = spec["info"]["title"]
    paths = operation_paths(spec)
    assert paths, "the served OpenAPI document has no operations"

    requests: list[str] = []
    page_errors: list[str] = []
    console_errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.on("request", lambda request: requests.append(request.url))
            context.add_init_script(RECORD_VIOLATIONS)
            context.add_init_script(RECORD_WARNINGS)
            page = context.new_page()
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            page.on(
                "console",
                lambda message: (
                    console_errors.append(message.text) if message.type == "error" else None
                ),
            )
            page.goto(f"{service}/api/v1/docs", wait_until="domcontentloaded")
            page.wait_for_function(
                "([title, paths]) => document.body.innerText.includes(title)"
                " && paths.some((p) => document.body.innerText.includes(p))",
                arg=[title, paths],
                timeout=30_000,
            )
            text = page.inner_text("body")
            violations = page.evaluate("window.__cspViolations")
            warnings = page.evaluate("window.__warnings")
        finally:
            browser.close()

    rendered = [p for p in paths if p in text]
    assert len(rendered) >= min(3, len(paths)), (rendered, paths)
    assert "Download OpenAPI Document" in text
    # data: URLs (the empty favicon) are not network requests.
    remote = [url for url in requests if urlsplit(url).scheme not in ("data", "blob")]
    assert f"{service}/api/v1/openapi.json" in remote
    assert not [url for url in remote if urlsplit(url).hostname != "127.0.0.1"]
    assert not page_errors
    assert not console_errors
    assert not [w for w in warnings if "validation" in w], warnings
    assert all(v["directive"] == "script-src" and v["blocked"] == "eval" for v in violations), (
        violations
    )
