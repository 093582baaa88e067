// The dashboard's HTTP client: same-origin fetches with the session cookie, errors as
// ApiError (the API's {"error", "detail"} shape), and polling that stays inside the caller's
// rate limit.
//
// Rate limits are per API key and route class (data / admin, per minute, by tier). Every
// response states its class's limit in X-RateLimit-Limit; each class's pollers share
// BUDGET_SHARE of it: when the pollers of a class together would ask more often, all of them
// are slowed down by the same factor. A 429 pauses the poller for its Retry-After.
import { useEffect, useRef, useState } from "../vendor/htm-preact-standalone.module.js";

const BUDGET_SHARE = 0.7;
const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
const EXEMPT = new Set(["/health", "/api/v1/openapi.json", "/api/v1/docs"]);
const ADMIN_PREFIXES = ["/triggers", "/lifecycle", "/admin", "/cron/clear-errors"];

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail ? `${code}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}` : code);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.retryAfterSecs = 0;
  }
}

/** The rate-limit class of a request, as the server classifies it (web/ratelimit.py). */
export function routeClass(method, path) {
  if (EXEMPT.has(path) || path.startsWith("/static/") || path.startsWith("/api/v1/docs/")) {
    return "exempt";
  }
  if (!SAFE.has(method) || ADMIN_PREFIXES.some((p) => path.startsWith(p))) return "admin";
  return "data";
}

const limits = { data: null, admin: null }; // requests per minute, as last reported
const pollers = new Set(); // live pollers: {cls, periodMs}
export const listeners = new Set(); // called with (status) on 401 (the session ended)

function pathOf(url) {
  return new URL(url, location.origin).pathname;
}

/** fetch + JSON: resolves to the decoded body, rejects with ApiError. */
export async function api(url, { method = "GET", body, headers = {} } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin" };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const cls = routeClass(method, pathOf(url));
  let response;
  try {
    response = await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, "network_error", String(e.message || e));
  }
  const limit = Number(response.headers.get("X-RateLimit-Limit"));
  if (cls !== "exempt" && limit > 0) limits[cls] = limit;
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: "bad_response", detail: text.slice(0, 200) };
    }
  }
  if (!response.ok) {
    const err = new ApiError(response.status, data?.error || `http_${response.status}`, data?.detail);
    err.retryAfterSecs = Number(response.headers.get("Retry-After")) || 0;
    // A 401 anywhere but at the login itself means the session ended.
    if (response.status === 401 && pathOf(url) !== "/api/v1/auth") listeners.forEach((fn) => fn(401));
    throw err;
  }
  return data;
}

/**
 * The period a poller of `cls` asking every `periodMs` gets when `pollers` ({cls, periodMs},
 * itself included) share `limit` requests per minute of that class: its own period, or all of
 * that class's periods stretched by the same factor when together they would use more than
 * BUDGET_SHARE of the limit. Exempt routes and unknown limits are not stretched.
 */
export function sharedPeriod(cls, periodMs, limit, pollers) {
  if (cls === "exempt" || !limit) return periodMs;
  let perMinute = 0;
  for (const p of pollers) if (p.cls === cls) perMinute += 60_000 / p.periodMs;
  const allowed = limit * BUDGET_SHARE;
  return perMinute > allowed ? periodMs * (perMinute / allowed) : periodMs;
}

/**
 * Poll `url` every `periodMs` while the component is mounted and the page is visible.
 * Returns {data, error, loading, at, refresh}: `data` keeps the last good value through
 * errors, `at` is when it arrived (epoch ms).
 * A null url polls nothing.
 */
export function usePoll(url, periodMs) {
  const [state, setState] = useState({ data: null, error: null, loading: url !== null });
  const tick = useRef(null);
  useEffect(() => {
    setState({ data: null, error: null, loading: url !== null });
    if (url === null) return undefined;
    const me = { cls: routeClass("GET", pathOf(url)), periodMs };
    pollers.add(me);
    let timer = null;
    let stopped = false;
    let running = false;
    const schedule = (ms) => {
      clearTimeout(timer);
      if (!stopped) timer = setTimeout(run, ms);
    };
    const run = async () => {
      if (stopped || running) return;
      if (document.hidden) return schedule(1000);
      running = true;
      let wait = sharedPeriod(me.cls, periodMs, limits[me.cls], pollers);
      try {
        const data = await api(url);
        if (!stopped) setState({ data, error: null, loading: false, at: Date.now() });
      } catch (error) {
        if (error.status === 429) wait = Math.max(wait, error.retryAfterSecs * 1000);
        if (!stopped) setState((s) => ({ ...s, error, loading: false }));
      } finally {
        running = false;
      }
      schedule(wait);
    };
    tick.current = () => schedule(0);
    run();
    return () => {
      stopped = true;
      clearTimeout(timer);
      pollers.delete(me);
    };
  }, [url, periodMs]);
  return { ...state, refresh: () => tick.current && tick.current() };
}

/**
 * Per-second rates of named counters between the last two readings: `counters` maps a key to
 * a cumulative count read at `atMs`. Returns {key: rate}; a key is missing until it has two
 * readings, and a counter that went down (a restart) starts over.
 */
export function useRates(counters, atMs) {
  const last = useRef(null);
  const [rates, setRates] = useState({});
  useEffect(() => {
    if (!counters || !atMs) return;
    const prev = last.current;
    if (prev && atMs > prev.atMs) {
      const next = {};
      for (const [key, value] of Object.entries(counters)) {
        const before = prev.counters[key];
        if (before !== undefined && value >= before) {
          next[key] = ((value - before) * 1000) / (atMs - prev.atMs);
        }
      }
      setRates(next);
    }
    last.current = { counters, atMs };
  }, [atMs]);
  return rates;
}
