"""The OpenAPI 3.1 document: complete, self-consistent, and naming no other host."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from polymon.service.api import ServiceApi
from polymon.service.main import Service
from polymon.web.app import create_app
from polymon.web.openapi import PROTECTED
from tests.web.test_limits import config


@pytest.fixture
async def spec_and_app(tmp_path: Path) -> tuple[dict[str, Any], Any]:
    cfg = config(tmp_path)
    async with httpx.AsyncClient() as http:
        service = Service(cfg, http)
        app = create_app(ServiceApi(service, None, cfg), service.events, triggers=service.alerts)
        response = await app.test_client().get("/api/v1/openapi.json")
        assert response.status_code == 200
        return await response.get_json(), app


def refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


async def test_every_ref_resolves_and_the_version_is_3_1(
    spec_and_app: tuple[dict[str, Any], Any],
) -> None:
    spec, _ = spec_and_app
    assert spec["openapi"] == "3.1.0"
    schemas = spec["components"]["schemas"]
    found = set(refs(spec))
    assert found
    for ref in found:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in schemas, ref


async def test_every_route_is_documented_with_its_security_and_errors(
    spec_and_app: tuple[dict[str, Any], Any],
) -> None:
    spec, app = spec_and_app
    paths = spec["paths"]
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if getattr(view, "_quart_schema_hidden", False) or rule.rule.startswith("/static"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        assert path in paths, path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            op = paths[path][method.lower()]
            assert op.get("summary"), (path, method)
            responses = {str(code) for code in op["responses"]}
            assert {"400", "429"} <= responses, (path, method)
            if getattr(view, PROTECTED, False):
                assert op["security"], (path, method)
                assert {"401", "403"} <= responses
            if "requestBody" in op:
                assert op["requestBody"]["required"] is True
    assert len(paths) >= 30


async def test_the_spec_names_no_other_host(spec_and_app: tuple[dict[str, Any], Any]) -> None:
    spec, _ = spec_and_app
    text = json.dumps(spec)
    assert "http://" not in text
    assert "https://" not in text
    assert "servers" not in spec
