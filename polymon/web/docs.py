"""The API reference page: Scalar, vendored in `static/vendor/`, configured to stay on this host.

Scalar 1.46 with its defaults fetches fonts from fonts.scalar.com, starts an AI agent and a
"share" tool that talk to scalar.com, and sends "Test Request" calls through proxy.scalar.com
(which would hand API keys to a third party). `SCALAR_CONFIGURATION` switches each of those
off; every option name was checked against the vendored bundle's own configuration schema.
The Content-Security-Policy backs that up: if a future bundle grows a new external call, the
browser blocks it and tests/web/test_docs_browser.py fails.
"""

from __future__ import annotations

import hashlib
import html
import json
from functools import cache
from importlib import resources

from quart import Blueprint, Response, request, url_for
from quart_schema import hide

DOCS_PATH = "/api/v1/docs"
SCRIPT_PATH = "/api/v1/docs/scalar.js"
SCALAR_VERSION = "1.46.4"
SCALAR_CONFIGURATION: dict[str, object] = {
    "withDefaultFonts": False,
    "agent": {"disabled": True},
    # "" means no proxy; leaving it unset means proxy.scalar.com in the browser build.
    "proxyUrl": "",
    "hideClientButton": True,
    # The developer tools (shown on localhost by default) can upload the spec to scalar.com.
    "showDeveloperTools": "never",
}
# Scalar injects its stylesheet as <style> elements at run time, which CSP treats as inline
# style, so style-src needs 'unsafe-inline'. Scripts stay 'self' only: the bundle's one
# `new Function` is a feature probe inside try/except, and it works without 'unsafe-eval'.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
# The empty data: icon keeps the browser from asking for /favicon.ico.
_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>polymon API reference</title>
<link rel="icon" href="data:,">
</head>
<body>
<script id="api-reference" data-url="{spec_url}" data-configuration="{configuration}"></script>
<script src="{script_url}"></script>
</body>
</html>
"""


@cache
def _scalar_bundle() -> tuple[bytes, str]:
    data = (resources.files("polymon.web") / "static/vendor/scalar-standalone.js").read_bytes()
    return data, hashlib.sha256(data).hexdigest()


def docs_blueprint(spec_url: str = "/api/v1/openapi.json") -> Blueprint:
    """The docs page at `/api/v1/docs` and the vendored Scalar bundle at `/api/v1/docs/scalar.js`.

    `spec_url` is where the page loads the OpenAPI document from; keep it on this host, or
    the Content-Security-Policy (connect-src 'self') blocks it. Both routes are hidden from
    the OpenAPI document.
    """
    bundle, digest = _scalar_bundle()
    etag = digest[:32]
    blueprint = Blueprint("polymon_docs", __name__)

    @blueprint.get(DOCS_PATH)
    @hide
    async def docs_page() -> Response:
        page = _PAGE.format(
            spec_url=html.escape(spec_url, quote=True),
            configuration=html.escape(json.dumps(SCALAR_CONFIGURATION), quote=True),
            # The digest in the URL lets the bundle be cached for good: a new bundle, a new URL.
            script_url=html.escape(url_for("polymon_docs.scalar_js", v=etag[:12]), quote=True),
        )
        response = Response(page, content_type="text/html; charset=utf-8")
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["Cache-Control"] = "no-cache"
        security_headers(response)
        return response

    @blueprint.get(SCRIPT_PATH)
    @hide
    async def scalar_js() -> Response:
        response = Response(bundle, content_type="text/javascript; charset=utf-8")
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        response.set_etag(etag)
        security_headers(response)
        return await response.make_conditional(request)

    return blueprint


def security_headers(response: Response) -> None:
    """The headers every served page and script carries: no MIME sniffing, no Referer."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
