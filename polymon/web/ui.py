"""The dashboard: a page at `/` and the files under `static/dashboard/` and `static/vendor/`,
served by polymon itself, with no build step and no request to any other host.

Every file is read once (at the first request of a process) into memory and served from a
fixed table, so a request can only name a file that shipped with the package (no path is ever
joined from the URL). Files carry a strong ETag and `Cache-Control: no-cache`: a browser
revalidates each load and gets a 304 while the file is unchanged.

The page's Content-Security-Policy is stricter than the docs page's: scripts and styles only
from this origin, and no inline style at all except the one `<style>` element lightweight-charts
adds for its TradingView attribution logo, allowed by the SHA-256 of its text (taken from the
vendored bundle, so an upgrade that changes the text updates the hash with it).
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

import msgspec
from quart import Blueprint, Response, request
from quart_schema import hide

from polymon.web.docs import security_headers
from polymon.web.http import error

PAGE_PATH = "/"
STATIC_PATH = "/static/<path:name>"
CHARTS_BUNDLE = "vendor/lightweight-charts.standalone.production.mjs"
# What the page loads from static/vendor/ (the licence texts are linked from its footer).
VENDOR_FILES = (
    "lightweight-charts.standalone.production.mjs",
    "htm-preact-standalone.module.js",
    "LICENSE.lightweight-charts.txt",
    "NOTICE.lightweight-charts.txt",
    "LICENSE.htm.txt",
    "LICENSE.preact.txt",
)
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}
_STYLE_TEXT = re.compile(rb'createElement\("style"\),[^;]{0,80}?\.innerText="([^"\\]*)"')


class StaticFile(msgspec.Struct, frozen=True):
    """One served file: its bytes, Content-Type and ETag (the start of its SHA-256)."""

    body: bytes
    content_type: str
    etag: str


def _walk(node: Traversable, prefix: str) -> dict[str, Traversable]:
    found: dict[str, Traversable] = {}
    for child in node.iterdir():
        name = f"{prefix}{child.name}"
        if child.is_dir():
            found |= _walk(child, f"{name}/")
        elif not child.name.startswith("."):
            found[name] = child
    return found


@cache
def static_files() -> dict[str, StaticFile]:
    """Every servable file by its path under `static/` ("dashboard/app.js"), read once.

    All of `static/dashboard/` whose suffix has a known Content-Type, plus VENDOR_FILES.
    """
    root = resources.files("polymon.web") / "static"
    candidates = _walk(root / "dashboard", "dashboard/")
    candidates |= {f"vendor/{name}": root / "vendor" / name for name in VENDOR_FILES}
    files = {}
    for name, node in sorted(candidates.items()):
        suffix = name[name.rfind(".") :]
        if suffix in CONTENT_TYPES:
            body = node.read_bytes()
            etag = hashlib.sha256(body).hexdigest()[:32]
            files[name] = StaticFile(body, CONTENT_TYPES[suffix], etag)
    return files


def inline_style_hashes(bundle: bytes) -> list[str]:
    """CSP hash sources ('sha256-…') of the `<style>` texts a script bundle creates."""
    return [
        f"'sha256-{base64.b64encode(hashlib.sha256(text).digest()).decode()}'"
        for text in _STYLE_TEXT.findall(bundle)
    ]


@cache
def content_security_policy() -> str:
    """The dashboard page's policy (see the module docstring)."""
    charts = static_files().get(CHARTS_BUNDLE)
    styles = inline_style_hashes(charts.body) if charts is not None else []
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            " ".join(("style-src 'self'", *styles)),
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


def ui_blueprint() -> Blueprint:
    """The dashboard page at `/` and its files at `/static/…`, hidden from the OpenAPI
    document (they are not API)."""
    blueprint = Blueprint("polymon_ui", __name__)

    @blueprint.get(PAGE_PATH)
    @hide
    async def dashboard_page() -> Response:
        page = static_files()["dashboard/index.html"]
        response = Response(page.body, content_type=page.content_type)
        response.headers["Content-Security-Policy"] = content_security_policy()
        return await _conditional(response, page)

    @blueprint.get(STATIC_PATH)
    @hide
    async def static_file(name: str) -> Response:
        found = static_files().get(name)
        if found is None or name == "dashboard/index.html":
            return error(404, "not_found", f"no file {name[:200]!r} under /static/")
        return await _conditional(Response(found.body, content_type=found.content_type), found)

    return blueprint


async def _conditional(response: Response, file: StaticFile) -> Response:
    response.headers["Cache-Control"] = "no-cache"
    response.set_etag(file.etag)
    security_headers(response)
    return await response.make_conditional(request)
