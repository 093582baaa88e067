"""The OpenAPI 3.1 document: complete, self-consistent, and naming no other host."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from polymon.service.api import ServiceApi
from polymon.service.main import Service
from polymon.web.app import create_app
from polymon.web.openapi import PROTECTED, state_types
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


async def test_health_documents_every_field_it_serves(
    spec_and_app: tuple[dict[str, Any], Any],
) -> None:
    """/health once served `lifecycle` and `recording` that HealthOut did not list."""
    spec, app = spec_and_app
    body = await (await app.test_client().get("/health")).get_json()
    health = spec["components"]["schemas"]["HealthOut"]
    assert set(body) == set(health["properties"]) == set(health["required"])
    assert {"lifecycle", "recording", "storage"} <= set(body)


async def test_the_spec_names_no_other_host(spec_and_app: tuple[dict[str, Any], Any]) -> None:
    spec, _ = spec_and_app
    text = json.dumps(spec)
    assert "http://" not in text
    assert "https://" not in text
    assert "servers" not in spec


async def test_the_document_validates_as_openapi_3_1(
    spec_and_app: tuple[dict[str, Any], Any],
) -> None:
    """Against the official OpenAPI 3.1 schema, every Schema Object against JSON Schema 2020-12."""
    spec, _ = spec_and_app
    errors = [
        f"{list(e.absolute_path)}: {e.message}" for e in OpenAPIV31SpecValidator(spec).iter_errors()
    ]
    assert not errors


def schemas(node: object, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Schema Object in a document or schema, with its location."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from schemas(item, f"{path}/{i}")
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        here = f"{path}/{key}"
        if key in ("schema", "items", "additionalProperties", "not") and isinstance(value, dict):
            yield here, value
        elif key in ("anyOf", "oneOf", "allOf"):
            yield from ((f"{here}/{i}", s) for i, s in enumerate(value) if isinstance(s, dict))
        elif key in ("schemas", "properties") and isinstance(value, dict):
            yield from ((f"{here}/{n}", s) for n, s in value.items() if isinstance(s, dict))
        yield from schemas(value, here)


async def test_every_schema_states_its_type(spec_and_app: tuple[dict[str, Any], Any]) -> None:
    """Scalar's document model rejects a schema with neither `type` nor `$ref` (the docs page
    then warns of "document validation errors"); tests/web/test_docs_browser.py checks it in
    the browser."""
    spec, _ = spec_and_app
    found = list(schemas(spec))
    assert len(found) > 200
    assert not [path for path, s in found if "type" not in s and "$ref" not in s]


@pytest.mark.parametrize(
    ("schema", "typed"),
    [
        ({"enum": ["a", "b"]}, "string"),
        ({"enum": ["a", 1, None]}, ["string", "integer", "null"]),
        ({"const": True}, "boolean"),
        ({"anyOf": [{"type": "string"}, {"type": "null"}]}, ["string", "null"]),
        ({"oneOf": [{"$ref": "#/components/schemas/O"}, {"enum": [1.5]}]}, ["object", "number"]),
        ({"anyOf": [{"type": "string"}, {"format": "date"}]}, None),  # a branch takes any value
        ({"anyOf": [{"$ref": "#/components/schemas/Loop"}, {"type": "null"}]}, None),
        ({"default": None}, None),
    ],
)
def test_state_types_states_only_implied_types(schema: dict[str, Any], typed: object) -> None:
    document = {
        "components": {
            "schemas": {
                "O": {"type": "object", "properties": {"p": schema}},
                "Loop": {"anyOf": [{"$ref": "#/components/schemas/Loop"}]},
            }
        },
        "paths": {"/x": {"get": {"parameters": [{"name": "p", "schema": schema}]}}},
    }
    out = state_types(document)
    assert out["components"]["schemas"]["O"]["properties"]["p"].get("type") == typed
    assert out["paths"]["/x"]["get"]["parameters"][0]["schema"].get("type") == typed
    assert "type" not in schema  # the input is not changed
