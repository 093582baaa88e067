"""OpenAPI 3.1 for the API: quart-schema generates it from the msgspec models, with the fixes
of the design notes' ecosystem.md 2.1 (nested components kept, request bodies required, error
responses documented), and `api()`, the one decorator that both documents a route and declares
whether it needs an API key, so the document and the enforcement cannot disagree.

Every schema also states its `type` (`state_types`): msgspec leaves it off `Literal`/enum
schemas and `X | None` unions, which JSON Schema allows, but Scalar's document model requires
it, and its docs page warns of "document validation errors" without it.

quart-schema is pinned (pyproject) because `Provider` reads its private attributes;
tests/web/test_openapi.py checks that every `$ref` resolves and validates the whole document.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import msgspec
from quart_schema import (
    APIKeySecurityScheme,
    DataSource,
    Info,
    OpenAPIProvider,
    QuartSchema,
    document_querystring,
    document_request,
    document_response,
    security_scheme,
)
from werkzeug.routing import Rule

from polymon.web.models.common import ErrorOut
from polymon.web.trigger_schema import refine_trigger_schemas

_F = TypeVar("_F", bound=Callable[..., Any])
PROTECTED = "_polymon_protected"
STREAM_TYPES = "_polymon_stream_types"
SECURITY: list[dict[str, list[str]]] = [{"ApiKey": []}, {"SessionCookie": []}]
_REF = "#/components/schemas/{name}"
_ERROR = {
    "description": "Error: {error, detail}",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
}
_RATE_HEADERS = {
    f"X-RateLimit-{name}": {"schema": {"type": kind}, "description": text}
    for name, kind, text in (
        ("Limit", "integer", "requests allowed per minute for this route class and tier"),
        ("Remaining", "integer", "requests left now"),
        ("Reset", "integer", "Unix time (s) when the allowance is whole again"),
        ("Tier", "string", "free, pro or enterprise"),
    )
}


def api(
    *,
    ok: Any = None,
    status: int = 200,
    query: type[Any] | None = None,
    body: type[Any] | None = None,
    protected: bool = False,
    stream: Iterable[str] = (),
) -> Callable[[_F], _F]:
    """Document a route (response `ok` with `status`, query and body models) and mark it
    protected (API key or session cookie). `stream` lists non-JSON media types the route
    streams instead of a JSON body."""

    def decorate(func: _F) -> _F:
        if ok is not None:
            func = document_response(ok, status)(func)
        if query is not None:
            func = document_querystring(query)(func)
        if body is not None:
            func = document_request(body)(func)
        if protected:
            func = security_scheme(SECURITY)(func)
        setattr(func, PROTECTED, protected)
        setattr(func, STREAM_TYPES, tuple(stream))
        return func

    return decorate


_JSON_TYPES: dict[type, str] = {
    type(None): "null",
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}
_SUBSCHEMA = (
    "items",
    "additionalProperties",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
    "contentSchema",
)
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "dependentSchemas", "$defs")
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")


def state_types(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of the OpenAPI `document` in which every schema without a `type` whose type is
    implied (by its `enum` or `const` values, its `anyOf`/`oneOf` branches or its `$ref`
    target) states that type, e.g. `{"anyOf": [{"type": "string"}, {"type": "null"}]}` gains
    `"type": ["string", "null"]`. What each schema accepts is unchanged."""
    schemas = document.get("components", {}).get("schemas", {})

    def schema(node: Any) -> Any:
        if not isinstance(node, dict):
            return node  # a boolean schema
        out = dict(node)
        for key in _SUBSCHEMA:
            if key in out:
                out[key] = schema(out[key])
        for key in _SUBSCHEMA_MAPS:
            if key in out:
                out[key] = {name: schema(sub) for name, sub in out[key].items()}
        for key in _SUBSCHEMA_LISTS:
            if key in out:
                out[key] = [schema(sub) for sub in out[key]]
        if "type" not in out and "$ref" not in out and (types := _implied_types(out, schemas)):
            out["type"] = types[0] if len(types) == 1 else types
        return out

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "schema":
                out[key] = schema(value)
            elif key == "schemas" and isinstance(value, dict):
                out[key] = {name: schema(sub) for name, sub in value.items()}
            elif key in ("example", "examples"):
                out[key] = value  # data, where a "schema" key is not a schema
            else:
                out[key] = walk(value)
        return out

    typed: dict[str, Any] = walk(document)
    return typed


def _implied_types(
    node: dict[str, Any], schemas: dict[str, Any], seen: frozenset[str] = frozenset()
) -> list[str] | None:
    """The JSON types `node` can take, or None if it does not say (e.g. `{}`, any value)."""
    if isinstance(ref := node.get("$ref"), str):
        name = ref.rsplit("/", 1)[1]
        target = schemas.get(name)
        if name in seen or not isinstance(target, dict):
            return None
        return _implied_types(target, schemas, seen | {name})
    if "type" in node:
        kind = node["type"]
        return [kind] if isinstance(kind, str) else list(kind)
    found: list[str] = []
    if "const" in node or "enum" in node:
        for value in [node["const"]] if "const" in node else node["enum"]:
            if (kind := _JSON_TYPES.get(type(value))) is None:
                return None
            found.append(kind)
    elif branches := node.get("anyOf", node.get("oneOf")):
        for branch in branches:
            if not isinstance(branch, dict):
                return None
            if (kinds := _implied_types(branch, schemas, seen)) is None:
                return None
            found += kinds
    return list(dict.fromkeys(found)) or None


def _model_components(models: list[Any]) -> dict[str, Any]:
    if not models:
        return {}
    return msgspec.json.schema_components(models, ref_template=_REF)[1]


class Provider(OpenAPIProvider):
    """quart-schema's provider with polymon's fixes (see the module docstring)."""

    _built: dict[str, Any] | None = None

    def schema(self) -> dict[str, Any]:
        """The document, built once: routes never change after start-up, and the route is
        exempt from rate limits, so rebuilding it per request would be free work for anyone."""
        if self._built is None:
            self._built = state_types(refine_trigger_schemas(super().schema()))
        return self._built

    def build_request_body(self, model: Any, source: DataSource) -> tuple[dict[str, Any], Any]:
        """The request body object, marked required (quart-schema leaves it optional)."""
        request_body, components = super().build_request_body(model, source)
        request_body["required"] = True
        return request_body, components

    def build_querystring_parameters(self, model: Any) -> tuple[list[dict[str, Any]], Any]:
        """Query parameters, with `required` taken from the model (msgspec lists it on the
        object, which quart-schema does not read)."""
        parameters, components = super().build_querystring_parameters(model)
        (schema,), defs = msgspec.json.schema_components([model], ref_template=_REF)
        target = defs.get(schema["$ref"].rsplit("/", 1)[1], {}) if "$ref" in schema else schema
        required = set(target.get("required", ()))
        for param in parameters:
            if param["name"] in required:
                param["required"] = True
        return parameters, components

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        """Path items of one rule, plus the nested components and error responses."""
        paths, components = super().build_paths(rule)
        func = self._app.view_functions[rule.endpoint]
        models = [m for m, _ in getattr(func, "_quart_schema_response_schemas", {}).values()]
        if (request_data := getattr(func, "_quart_schema_request_schema", None)) is not None:
            models.append(request_data[0])
        if (query := getattr(func, "_quart_schema_querystring_schema", None)) is not None:
            models.append(query)
        components.update(_model_components(models))  # quart-schema drops nested ones (#117)
        protected = getattr(func, PROTECTED, False)
        stream = getattr(func, STREAM_TYPES, ())
        for ops in paths.values():
            for method, op in ops.items():
                responses = dict(op["responses"])
                if stream:
                    responses[200] = {
                        "description": "Streamed rows",
                        "content": {t: {"schema": {"type": "string"}} for t in stream},
                    }
                for code in responses.values():
                    code.setdefault("headers", _RATE_HEADERS)
                codes = [400, 404, 429, 503]
                if protected:
                    codes += [401, 403]
                if method in ("post", "put", "patch", "delete"):
                    codes += [413]
                for code in codes:
                    responses.setdefault(code, _ERROR)  # int keys: mixing str/int breaks sorting
                op["responses"] = responses
        components["ErrorOut"] = msgspec.json.schema_components([ErrorOut], ref_template=_REF)[1][
            "ErrorOut"
        ]
        return paths, components


def install(app: Any, *, title: str, version: str, description: str) -> QuartSchema:
    """Attach quart-schema to `app`: the document at /api/v1/openapi.json (its own UI routes
    off: the docs page is polymon's, self-hosted) and the two security schemes."""
    return QuartSchema(
        app,
        info=Info(title=title, version=version, description=description),
        openapi_path="/api/v1/openapi.json",
        redoc_ui_path=None,
        scalar_ui_path=None,
        swagger_ui_path=None,
        conversion_preference="msgspec",
        openapi_provider_class=Provider,
        security_schemes={
            "ApiKey": APIKeySecurityScheme(in_="header", name="X-API-Key"),
            "SessionCookie": APIKeySecurityScheme(in_="cookie", name="polymon_session"),
        },
    )
