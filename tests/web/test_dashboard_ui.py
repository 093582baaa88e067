"""The dashboard's page and files through the test client (no sockets): the policy, the fixed
file table, caching, the vendored files' record, and no reference to any other host."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from quart_trio import QuartTrio

import polymon.web
from polymon.service.api import ServiceApi
from polymon.service.main import Service
from polymon.web.app import create_app
from polymon.web.ui import VENDOR_FILES, content_security_policy, inline_style_hashes, static_files
from tests.web.test_docs import directives
from tests.web.test_limits import config

STATIC = Path(polymon.web.__file__).parent / "static"
DASHBOARD = STATIC / "dashboard"
VENDOR = STATIC / "vendor"


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[QuartTrio]:
    cfg = config(tmp_path)
    async with httpx.AsyncClient() as http:
        service = Service(cfg, http)
        yield create_app(ServiceApi(service, None, cfg), service.events, triggers=service.alerts)


async def test_page_is_served_at_the_root_with_a_strict_policy(app: QuartTrio) -> None:
    response = await app.test_client().get("/")
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-cache"
    csp = directives(response.headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["connect-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["form-action"] == ["'none'"]
    # Stricter than the docs page: no 'unsafe-inline' style, only one hashed <style> text.
    assert csp["style-src"][0] == "'self'"
    assert len(csp["style-src"]) == 2
    assert re.fullmatch(r"'sha256-[A-Za-z0-9+/]{43}='", csp["style-src"][1])
    for sources in csp.values():
        assert not any(s.startswith(("http", "*")) or "unsafe" in s for s in sources)


def test_the_style_hash_is_that_of_the_charts_attribution_style() -> None:
    bundle = (VENDOR / "lightweight-charts.standalone.production.mjs").read_bytes()
    start = bundle.index(b'innerText="a#tv-attr-logo') + len(b'innerText="')
    text = bundle[start : bundle.index(b'"', start)]
    digest = base64.b64encode(hashlib.sha256(text).digest()).decode()
    assert inline_style_hashes(bundle) == [f"'sha256-{digest}'"]
    assert f"'sha256-{digest}'" in content_security_policy()


async def test_every_file_is_served_with_its_type_and_revalidates(app: QuartTrio) -> None:
    client = app.test_client()
    names = set(static_files())
    shipped = {f"dashboard/{p.relative_to(DASHBOARD)}" for p in DASHBOARD.rglob("*") if p.is_file()}
    assert shipped <= names
    assert {f"vendor/{name}" for name in VENDOR_FILES} <= names
    types = {".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
             ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml",
             ".txt": "text/plain; charset=utf-8"}  # fmt: skip
    for name in sorted(names - {"dashboard/index.html"}):
        response = await client.get(f"/static/{name}")
        assert response.status_code == 200, name
        assert response.content_type == types[Path(name).suffix], name
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-cache"
        assert await response.get_data() == (STATIC / name).read_bytes()
        again = await client.get(
            f"/static/{name}", headers={"If-None-Match": response.headers["ETag"]}
        )
        assert again.status_code == 304, name
        assert not await again.get_data()


@pytest.mark.parametrize(
    "path",
    [
        "/static/dashboard/nothing.js",
        "/static/dashboard/index.html",  # only as the page at /
        "/static/vendor/scalar-standalone.js",  # the docs page serves its own
        "/static/vendor/README.md",
        "/static/../ui.py",
        "/static/dashboard/../../ui.py",
        "/static/%2e%2e/ui.py",
    ],
)
async def test_nothing_outside_the_file_table_is_served(app: QuartTrio, path: str) -> None:
    response = await app.test_client().get(path)
    assert response.status_code == 404
    assert (await response.get_json())["error"] == "not_found"


async def test_the_ui_is_not_in_the_openapi_document(app: QuartTrio) -> None:
    paths = (await (await app.test_client().get("/api/v1/openapi.json")).get_json())["paths"]
    assert "/" not in paths
    assert not [p for p in paths if p.startswith("/static")]


def test_own_code_names_no_other_host_and_has_no_inline_script() -> None:
    page = (DASHBOARD / "index.html").read_text()
    assert re.findall(r"<script\b[^>]*>", page) == [
        '<script type="module" src="/static/dashboard/app.js">'
    ]
    assert "<style" not in page
    assert "style=" not in page
    for path in DASHBOARD.rglob("*"):
        if path.suffix not in (".js", ".css", ".html", ".svg"):
            continue
        text = path.read_text()
        for url in re.findall(r"https?://[^\s\"'`)<>]+", text):
            # Links a user may follow (the licence asks for one to tradingview.com), the SVG
            # namespace; nothing the page loads.
            assert url in ("https://www.tradingview.com/", "http://www.w3.org/2000/svg"), (
                path,
                url,
            )
        for spec in re.findall(r"""\bfrom\s+["']([^"']+)["']""", text):
            assert spec.startswith("./") or spec.startswith("../vendor/"), (path, spec)
            assert (path.parent / spec).resolve().is_file(), (path, spec)


def test_vendored_files_match_their_record() -> None:
    readme = (VENDOR / "README.md").read_text()
    for name, package, version, source in (
        ("lightweight-charts.standalone.production.mjs", "lightweight-charts", "5.2.1",
         "package/dist/lightweight-charts.standalone.production.mjs"),
        ("htm-preact-standalone.module.js", "htm", "3.1.1", "package/preact/standalone.module.js"),
    ):  # fmt: skip
        digest = hashlib.sha256((VENDOR / name).read_bytes()).hexdigest()
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{name}`"))
        for recorded in (digest, package, version, source):
            assert recorded in row, (recorded, row)
    bundle = (VENDOR / "lightweight-charts.standalone.production.mjs").read_bytes()
    assert b"TradingView Lightweight Charts\xe2\x84\xa2 v5.2.1" in bundle[:300]
    assert (
        (VENDOR / "NOTICE.lightweight-charts.txt")
        .read_text()
        .startswith("TradingView Lightweight Charts")
    )
    for licence, first in (
        ("LICENSE.lightweight-charts.txt", "Apache License"),
        ("LICENSE.htm.txt", "Apache License"),
        ("LICENSE.preact.txt", "The MIT License"),
    ):
        assert (VENDOR / licence).read_text().strip().startswith(first), licence
