"""The docs page and its vendored Scalar bundle, through the test client (no sockets)."""

from __future__ import annotations

import hashlib
import html
import json
import re
from pathlib import Path

from quart_schema import QuartSchema
from quart_trio import QuartTrio

import polymon.web
from polymon.web.docs import (
    CONTENT_SECURITY_POLICY,
    DOCS_PATH,
    SCALAR_CONFIGURATION,
    SCRIPT_PATH,
    docs_blueprint,
)

VENDOR = Path(polymon.web.__file__).parent / "static" / "vendor"


def make_app(spec_url: str = "/api/v1/openapi.json") -> QuartTrio:
    app = QuartTrio("docs-test")
    QuartSchema(app, openapi_path="/api/v1/openapi.json")
    app.register_blueprint(docs_blueprint(spec_url))
    return app


def directives(csp: str) -> dict[str, list[str]]:
    return {
        name: values for name, *values in (part.split() for part in csp.split(";") if part.strip())
    }


async def test_page_is_html_with_a_strict_policy() -> None:
    response = await make_app().test_client().get(DOCS_PATH)
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-cache"
    csp = directives(response.headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["connect-src"] == ["'self'"]
    assert csp["img-src"] == ["'self'", "data:"]
    assert csp["font-src"] == ["'self'", "data:"]
    assert csp["style-src"] == ["'self'", "'unsafe-inline'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    for sources in csp.values():
        assert not any(s.startswith(("http", "*")) or s.endswith(":*") for s in sources)


async def test_page_names_no_other_host() -> None:
    page = await (await make_app().test_client().get(DOCS_PATH)).get_data(as_text=True)
    assert "http://" not in page
    assert "https://" not in page
    assert "//" not in page
    sources = re.findall(r'(?:src|data-url)="([^"]*)"', page)
    assert sources
    assert all(s.startswith("/") and not s.startswith("//") for s in sources)


async def test_page_configures_scalar_to_stay_local() -> None:
    page = await (await make_app("/spec.json").test_client().get(DOCS_PATH)).get_data(as_text=True)
    match = re.search(
        r'<script id="api-reference" data-url="([^"]*)" data-configuration="([^"]*)"', page
    )
    assert match is not None
    assert match[1] == "/spec.json"
    configuration = json.loads(html.unescape(match[2]))
    assert configuration == SCALAR_CONFIGURATION
    assert configuration["proxyUrl"] == ""
    assert configuration["withDefaultFonts"] is False
    assert configuration["agent"] == {"disabled": True}
    assert configuration["showDeveloperTools"] == "never"
    assert configuration["hideClientButton"] is True


async def test_spec_url_is_escaped() -> None:
    page = await (
        await make_app('/x"><script>alert(1)</script>').test_client().get(DOCS_PATH)
    ).get_data(as_text=True)
    assert "<script>alert" not in page
    assert "&quot;&gt;&lt;script&gt;" in page


async def test_script_is_the_vendored_bundle_and_cacheable() -> None:
    client = make_app().test_client()
    page = await (await client.get(DOCS_PATH)).get_data(as_text=True)
    script_url = re.search(r'<script src="([^"]*)"', page)
    assert script_url is not None
    assert script_url[1].startswith(SCRIPT_PATH + "?v=")
    response = await client.get(html.unescape(script_url[1]))
    assert response.status_code == 200
    assert response.content_type == "text/javascript; charset=utf-8"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    body = await response.get_data()
    assert body == (VENDOR / "scalar-standalone.js").read_bytes()
    assert b"@scalar/api-reference 1.46.4" in body[:1000]

    etag = response.headers["ETag"]
    again = await client.get(SCRIPT_PATH, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert not await again.get_data()


def test_vendored_files_match_their_record() -> None:
    readme = (VENDOR / "README.md").read_text()
    digest = hashlib.sha256((VENDOR / "scalar-standalone.js").read_bytes()).hexdigest()
    assert digest in readme
    assert "@scalar/api-reference" in readme
    assert "1.46.4" in readme
    assert "dist/browser/standalone.js" in readme
    assert (VENDOR / "LICENSE.scalar.txt").read_text().startswith("MIT License")


async def test_docs_routes_are_not_in_the_openapi_document() -> None:
    response = await make_app().test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    paths = (await response.get_json())["paths"]
    assert DOCS_PATH not in paths
    assert SCRIPT_PATH not in paths
