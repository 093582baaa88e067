"""No secret in any response, log line or error.

Sentinel secrets are planted everywhere a secret lives: the ClickHouse URL's user:password,
`storage.password`, an API key, a browser session, trigger and lifecycle webhook secrets and
the key pepper. Then every route of the OpenAPI document is called with every method (with the
key, with the session, with neither), `/metrics` is scraped, ClickHouse goes down so storage
errors are logged, webhook deliveries fail into dead letters, the service stops; the responses
(headers and bodies), the whole log and the one-line errors of bad invocations are scanned:
the only place a sentinel may appear is the one response that hands a new secret out.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from polymon.web.keys import KeyStore
from tests.faults.conftest import storage_section
from tests.faults.harness import (
    ROOT,
    Polymon,
    Shim,
    Simulator,
    _env,
    free_port,
    raw_http,
    sim_config,
    toml,
)  # fmt: skip
from tests.faults.proxy import FaultProxy

pytestmark = pytest.mark.slow

PASSWORD_IN_URL = "Sentinel-url-pw-7Q2"
PASSWORD = "Sentinel-cfg-pw-9X4"
WEBHOOK_SECRET = "Sentinel-webhook-secret-0123456789"
LIFECYCLE_SECRET = "Sentinel-lifecycle-secret-987654321"


def transcript(response: httpx.Response) -> str:
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    return f"{response.request.method} {response.request.url}\n{headers}\n{response.text}"


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    return [name for name, value in secrets.items() if value and value in text]


async def call_every_route(client: httpx.AsyncClient, spec: dict[str, Any], asset: str,
                           auths: list[dict[str, str]], skip: str = "") -> list[str]:  # fmt: skip
    seen = []
    for path, operations in spec["paths"].items():
        if skip and skip in path:
            continue
        url = path.replace("{asset_id}", asset).replace("{condition_id}", "0xabc")
        for method in operations:
            if method not in ("get", "post", "delete", "put", "patch"):
                continue
            if path.endswith("/sse"):
                continue  # a stream: read below
            for headers in auths:
                body = b"{}" if method != "get" else None
                response = await client.request(method, url, headers=headers, content=body)
                assert response.status_code < 500 or response.status_code == 503, transcript(
                    response
                )
                seen.append(transcript(response))
    port = int(str(client.base_url).rsplit(":", 1)[1].strip("/"))
    for headers in auths:  # the stream, read raw: its first blocks and headers
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        request = (
            f"GET /api/v1/triggers/events/sse?last_event_id=1 HTTP/1.1\r\nHost: x\r\n{lines}\r\n"
        )
        seen.append((await raw_http(port, request.encode(), until=b"reset", limit=3)).decode())
    return seen


async def test_no_sentinel_secret_reaches_a_response_the_log_or_an_error(
    tmp_path: Path, shim: Shim, simulator: Simulator, database: str, nursery: trio.Nursery
) -> None:
    proxy = FaultProxy(shim.port)
    await nursery.start(proxy.run)
    closed_port = free_port()
    storage = storage_section(proxy.port, database, password=PASSWORD, insert_attempts=1)
    storage["url"] = f"http://sentinel:{PASSWORD_IN_URL}@127.0.0.1:{proxy.port}/{database}"
    config = {
        "polymarket": sim_config(simulator), "storage": storage,
        "webhooks": {"allow_private": True, "allowed_ports": [],
                     "retry_schedule_secs": [0, 0.2, 0.2]},
    }  # fmt: skip
    service = Polymon(tmp_path, config)
    _record, key = KeyStore(service.data_dir).create("sentinel", "enterprise")
    pepper = (service.data_dir / "pepper").read_bytes()
    secrets = {
        "url password": PASSWORD_IN_URL, "storage.password": PASSWORD, "api key": key,
        "api key secret": key.split("_", 2)[2], "pepper hex": pepper.hex(),
        "pepper b64": base64.b64encode(pepper).decode(), "webhook secret": WEBHOOK_SECRET,
        "lifecycle secret": LIFECYCLE_SECRET,
    }  # fmt: skip
    service.start()
    seen: list[str] = []
    try:
        await service.wait_ready()
        token = (await simulator.tokens())[0]
        async with httpx.AsyncClient(base_url=service.url, timeout=60) as client:
            keyed = {"X-API-Key": key}
            login = await client.post("/api/v1/auth", headers=keyed)
            assert login.status_code == 200
            session = login.cookies.get("polymon_session")
            assert session
            secrets["session id"] = session
            client.cookies.clear()  # sent only where a test says so
            created = await client.post("/triggers", headers=keyed, json={
                "asset_id": token, "condition": {"type": "QUOTE_VELOCITY", "count": 2,
                "window_ms": 1000}, "cooldown_ms": 0, "webhook_secret": WEBHOOK_SECRET,
                "webhook_url": f"http://127.0.0.1:{closed_port}/hook"})  # fmt: skip
            assert created.status_code == 201, created.text
            life = {"url": f"http://127.0.0.1:{closed_port}/life", "secret": LIFECYCLE_SECRET}
            hook = await client.post("/lifecycle/webhooks", headers=keyed, json=life)
            assert hook.status_code == 201, hook.text
            spec = (await client.get("/api/v1/openapi.json")).json()
            cookie = {"Cookie": f"polymon_session={session}", "Origin": service.url}
            seen += await call_every_route(client, spec, token, [keyed, cookie, {}])
            proxy.set("refuse")  # ClickHouse goes down: storage errors in the log and the API
            await trio.sleep(2.0)
            # (An export streams rows as storage yields them: with storage down it is cut.)
            seen += await call_every_route(client, spec, token, [keyed], skip="/export/backtest")
            seen.append(transcript(await client.get("/metrics")))
            seen.append(transcript(await client.get("/webhooks/dead-letters", headers=keyed)))
    finally:
        status, _secs = await service.stop()
    assert status == 0
    for text in seen:
        assert not leaks(text, secrets), text[:2000]
    log = service.log()
    assert "ClickHouse unavailable" in log  # the error paths did run
    assert not leaks(log, secrets), [line for line in log.splitlines() if leaks(line, secrets)]


def test_bad_invocations_name_the_problem_without_the_secret(tmp_path: Path) -> None:
    url = f"http://sentinel:{PASSWORD_IN_URL}@127.0.0.1:{free_port()}/db"
    runs = {
        "wrong scheme": {"storage": {"url": f"ftp://sentinel:{PASSWORD_IN_URL}@host/db"}},
        "unreachable": {"storage": {"url": url, "insert_timeout_secs": 2.0}},
    }
    for name, config in runs.items():
        path = tmp_path / f"{name.replace(' ', '_')}.toml"
        path.write_text(toml({"service": {"data_dir": str(tmp_path / "data")}, **config}))
        result = subprocess.run(
            [sys.executable, "-m", "polymon", "migrate", "--config", str(path)],
            capture_output=True, text=True, timeout=120, cwd=ROOT, env=_env(),
        )  # fmt: skip
        assert result.returncode == 2, (name, result.stdout, result.stderr)
        assert result.stderr.count("\n") == 1, (name, result.stderr)
        assert PASSWORD_IN_URL not in result.stdout + result.stderr, (name, result.stderr)
