// The dashboard's entry point: the session (log in with an API key, which POST /api/v1/auth
// exchanges for an HttpOnly session cookie; the key itself is never stored), the page router
// (#/overview, #/triggers, #/market[/<token id>], #/metrics) and the layout.
import { html, render, useEffect, useState } from "../vendor/htm-preact-standalone.module.js";
import { api, listeners } from "./api.js";
import { alerts, useAlerts } from "./alerts.js";
import { Market } from "./market.js";
import { Metrics } from "./metrics.js";
import { Overview } from "./overview.js";
import { Triggers } from "./triggers.js";

const PAGES = [
  { id: "overview", label: "Overview" },
  { id: "triggers", label: "Triggers" },
  { id: "market", label: "Market" },
  { id: "metrics", label: "Metrics" },
];

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, search = ""] = raw.split("?");
  const [page, ...rest] = path.split("/");
  const known = PAGES.some((p) => p.id === page);
  return { page: known ? page : "overview", arg: rest.join("/"), query: new URLSearchParams(search) };
}

function useRoute() {
  const [route, setRoute] = useState(parseHash);
  useEffect(() => {
    const onChange = () => {
      setRoute(parseHash());
      window.scrollTo(0, 0);
    };
    addEventListener("hashchange", onChange);
    return () => removeEventListener("hashchange", onChange);
  }, []);
  return route;
}

function Login({ onLogin, expired }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api("/api/v1/auth", { method: "POST", headers: { "X-API-Key": key.trim() } });
      setKey("");
      onLogin(await api("/api/v1/auth"));
    } catch (err) {
      setError(err.status === 401 ? "That API key is not valid." : err.message);
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="login">
    <form class="card login-card" id="login" onSubmit=${submit}>
      <h1><span class="logo" aria-hidden="true"></span>polymon</h1>
      <p class="muted">Sign in with an API key (<code>polymon keys create --name me --tier pro</code>).
        The key is exchanged for a session cookie and is not kept by the page.</p>
      ${expired && html`<p class="notice tone-warn">Your session ended; sign in again.</p>`}
      <label for="api-key">API key</label>
      <input id="api-key" name="api-key" type="password" value=${key} onInput=${(e) => setKey(e.target.value)}
        placeholder="pm_…" autocomplete="off" spellcheck="false" required autofocus />
      <button type="submit" class="primary" disabled=${busy || !key.trim()}>${busy ? "Signing in…" : "Sign in"}</button>
      ${error && html`<p class="notice tone-bad" role="alert" id="login-error">${error}</p>`}
      <p class="small muted"><a href="/api/v1/docs">API reference</a></p>
    </form>
  </main>`;
}

function Shell({ session, onLogout }) {
  const route = useRoute();
  const { events } = useAlerts();
  const [seen, setSeen] = useState(0);
  useEffect(() => {
    if (route.page === "overview" || route.page === "triggers") setSeen(events.length ? events[0].id : 0);
  }, [route.page, events]);
  const unseen = events.filter((e) => e.id > seen).length;
  let page;
  if (route.page === "triggers") page = html`<${Triggers} query=${route.query} />`;
  else if (route.page === "market") page = html`<${Market} assetId=${route.arg} />`;
  else if (route.page === "metrics") page = html`<${Metrics} />`;
  else page = html`<${Overview} />`;
  return html`<div class="shell">
    <header class="top">
      <a class="brand" href="#/overview"><span class="logo" aria-hidden="true"></span>polymon</a>
      <nav aria-label="Pages">
        ${PAGES.map((p) => html`<a href=${`#/${p.id}`} class=${route.page === p.id ? "active" : ""}
          aria-current=${route.page === p.id ? "page" : undefined} id=${`nav-${p.id}`}>${p.label}
          ${p.id === "overview" && unseen ? html`<span class="count" title="new alerts">${unseen}</span>` : null}</a>`)}
      </nav>
      <div class="who">
        <span class="muted small" title=${`key ${session.key_id}`}>${session.key_id} · ${session.tier}</span>
        <button type="button" class="ghost" id="logout" onClick=${onLogout}>Sign out</button>
      </div>
    </header>
    <main>${page}</main>
    <footer class="foot small muted">
      polymon · <a href="/api/v1/docs">API reference</a> · <a href="/metrics">Prometheus</a> ·
      Charts: <a href="https://www.tradingview.com/" target="_blank" rel="noopener noreferrer">TradingView Lightweight Charts™</a>,
      Copyright (c) TradingView, Inc. (<a href="/static/vendor/NOTICE.lightweight-charts.txt">notice</a>,
      <a href="/static/vendor/LICENSE.lightweight-charts.txt">licence</a>) ·
      UI: Preact and htm (<a href="/static/vendor/LICENSE.preact.txt">MIT</a>, <a href="/static/vendor/LICENSE.htm.txt">Apache-2.0</a>)
    </footer>
  </div>`;
}

function App() {
  const [session, setSession] = useState(null); // null: asking; {authenticated, ...}
  const [expired, setExpired] = useState(false);
  useEffect(() => {
    api("/api/v1/auth").then(setSession, () => setSession({ authenticated: false }));
    const onUnauthorized = () => {
      setExpired(true);
      setSession({ authenticated: false });
    };
    listeners.add(onUnauthorized);
    return () => listeners.delete(onUnauthorized);
  }, []);
  useEffect(() => {
    if (session?.authenticated) alerts.start();
    else alerts.stop();
  }, [session?.authenticated]);
  const logout = async () => {
    try {
      await api("/api/v1/auth", { method: "DELETE" });
    } finally {
      setExpired(false);
      setSession({ authenticated: false });
    }
  };
  if (session === null) return html`<p class="boot">Loading…</p>`;
  if (!session.authenticated) {
    return html`<${Login} expired=${expired} onLogin=${(s) => { setExpired(false); setSession(s); }} />`;
  }
  return html`<${Shell} session=${session} onLogout=${logout} />`;
}

render(html`<${App} />`, document.getElementById("app"));
