// Metrics: processing latency per shard (p50/p95/p99 of recent frames), HTTP requests per
// route, and the scheduled jobs with their errors (and clearing them).
import { html, useState } from "../vendor/htm-preact-standalone.module.js";
import { api, usePoll, useRates } from "./api.js";
import { Badge, Card, ErrorNote, Stat, Table } from "./components.js";
import { ago, clock, int, micros, millis, num, secs } from "./format.js";

const BAR_FLOOR_US = 10;

function LatencyBar({ row, scale }) {
  // p50, p95 and p99 as nested bars on a shared log scale from 10 µs to the largest p99
  // shown: a p99 a hundred times the p50 (common) would otherwise hide the p50.
  const span = Math.log(Math.max(scale, BAR_FLOOR_US * 2) / BAR_FLOOR_US);
  const pct = (v) => (v === null || !scale ? 0 : Math.max(1, (100 * Math.log(Math.max(v, BAR_FLOOR_US) / BAR_FLOOR_US)) / span));
  return html`<div class="lat-bar" title=${`p50 ${micros(row.p50_us)} · p95 ${micros(row.p95_us)} · p99 ${micros(row.p99_us)}`}>
    <span class="p99" style=${{ width: `${pct(row.p99_us)}%` }}></span>
    <span class="p95" style=${{ width: `${pct(row.p95_us)}%` }}></span>
    <span class="p50" style=${{ width: `${pct(row.p50_us)}%` }}></span>
  </div>`;
}

function Latency() {
  const m = usePoll("/do/metrics", 3000);
  const shards = m.data?.shards || [];
  const totals = m.data?.totals;
  const counters = {};
  for (const s of shards) counters[s.shard] = s.frames;
  const rates = useRates(m.data ? counters : null, m.at);
  const scale = Math.max(0, ...shards.map((s) => s.p99_us || 0));
  const columns = [
    { label: "Shard", render: (s) => s.shard },
    { label: "Frames/s", num: true, render: (s) => num(rates[s.shard]) },
    { label: "Samples", num: true, render: (s) => int(s.samples) },
    { label: "p50", num: true, render: (s) => micros(s.p50_us) },
    { label: "p95", num: true, render: (s) => micros(s.p95_us) },
    { label: "p99", num: true, render: (s) => micros(s.p99_us) },
    { label: "max", num: true, render: (s) => micros(s.max_us) },
    { label: "", render: (s) => html`<${LatencyBar} row=${s} scale=${scale} />` },
    { label: "Triggers", num: true, render: (s) => int(s.triggers) },
    { label: "Fired", num: true, render: (s) => int(s.fired) },
  ];
  return html`<${Card} title="Processing latency" wide id="latency">
    <p class="muted small">Frame receipt to applied (books, best bid/ask, triggers), over each shard's most recent frames.</p>
    <${ErrorNote} error=${m.error} what="/do/metrics" />
    ${totals && html`<div class="stats">
      <${Stat} label="p50 (all shards)" value=${micros(totals.p50_us)} />
      <${Stat} label="p95" value=${micros(totals.p95_us)} />
      <${Stat} label="p99" value=${micros(totals.p99_us)} tone=${totals.p99_us > 20000 ? "warn" : null} />
      <${Stat} label="Triggers" value=${int(totals.triggers)} note=${`${int(totals.fired)} fired`} />
    </div>`}
    <${Table} columns=${columns} rows=${shards} rowKey=${(s) => s.shard} />
    <p class="legend small"><span class="key p50"></span>p50 <span class="key p95"></span>p95 <span class="key p99"></span>p99 (log scale)</p>
  <//>`;
}

function Http() {
  const m = usePoll("/api/v1/metrics/http", 3000);
  const routes = m.data?.routes || [];
  const counters = { "*": m.data?.total.requests };
  for (const r of routes) counters[r.route] = r.requests;
  const rates = useRates(m.data ? counters : null, m.at);
  const total = m.data?.total;
  const statusText = (r) => Object.entries(r.statuses).map(([s, n]) => `${s}×${int(n)}`).join(" ");
  const columns = [
    { label: "Route", render: (r) => html`<span class="mono small route">${Object.keys(r.methods).join(",")} ${r.route}</span>` },
    { label: "Requests", num: true, render: (r) => int(r.requests) },
    { label: "Req/s", num: true, render: (r) => num(rates[r.route], 2) },
    { label: "4xx", num: true, render: (r) => int(r.client_errors) },
    { label: "5xx", num: true, render: (r) => (r.server_errors ? html`<${Badge} tone="bad">${int(r.server_errors)}<//>` : "0") },
    { label: "Mean", num: true, render: (r) => millis(r.mean_ms) },
    { label: "p50", num: true, render: (r) => millis(r.p50_ms) },
    { label: "p95", num: true, render: (r) => millis(r.p95_ms) },
    { label: "p99", num: true, render: (r) => millis(r.p99_ms) },
    { label: "Statuses", render: (r) => html`<span class="muted small">${statusText(r)}</span>` },
  ];
  return html`<${Card} title="HTTP requests" wide id="http">
    <p class="muted small">Since start-up; percentiles estimated from the histogram buckets, as in Prometheus.</p>
    <${ErrorNote} error=${m.error} what="/api/v1/metrics/http" />
    ${total && html`<div class="stats">
      <${Stat} label="Requests" value=${int(total.requests)} note=${`${num(rates["*"], 2)} /s`} />
      <${Stat} label="Client errors" value=${int(total.client_errors)} />
      <${Stat} label="Server errors" value=${int(total.server_errors)} tone=${total.server_errors ? "bad" : null} />
      <${Stat} label="p99" value=${millis(total.p99_ms)} note=${`p50 ${millis(total.p50_ms)}`} />
    </div>`}
    <${Table} columns=${columns} rows=${routes} rowKey=${(r) => r.route} />
  <//>`;
}

function Jobs() {
  const m = usePoll("/cron/health", 10_000);
  const [message, setMessage] = useState(null);
  const [error, setError] = useState(null);
  const jobs = Object.entries(m.data?.data.jobs || {}).map(([name, job]) => ({ name, ...job }));
  const errors = jobs.flatMap((j) => j.recent_errors.map((e, i) => ({ job: j.name, i, ...e })));
  const clear = async () => {
    setError(null);
    try {
      const out = await api("/cron/clear-errors", { method: "POST" });
      setMessage(`Cleared ${out.result.cleared} recorded errors.`);
    } catch (err) {
      setError(err);
    }
    m.refresh();
  };
  const columns = [
    { label: "Job", render: (j) => html`<span class="mono">${j.name}</span>` },
    { label: "State", render: (j) => (!j.enabled ? html`<${Badge}>off<//>` : j.running ? html`<${Badge} tone="ok">running<//>` : html`<${Badge}>idle<//>`) },
    { label: "Every", num: true, render: (j) => secs(j.interval_secs) },
    { label: "Runs", num: true, render: (j) => int(j.runs) },
    { label: "Failures", num: true, render: (j) => (j.failures ? html`<${Badge} tone="bad">${int(j.failures)}<//>` : "0") },
    { label: "Last run", render: (j) => lastRun(j.last_run) },
    { label: "Next", num: true, render: (j) => (j.next_run_in_secs === null || j.next_run_in_secs === undefined ? "–" : `in ${secs(j.next_run_in_secs)}`) },
  ];
  const errorColumns = [
    { label: "Job", render: (e) => html`<span class="mono">${e.job}</span>` },
    { label: "When", render: (e) => clock(e.at_ms) },
    { label: "Error", render: (e) => html`<span class="small">${e.error}</span>` },
  ];
  return html`<${Card} title="Scheduled jobs" wide id="jobs"
      actions=${html`<button type="button" class="ghost" id="clear-errors" onClick=${clear} disabled=${!errors.length}>Clear errors</button>`}>
    <${ErrorNote} error=${m.error} what="/cron/health" />
    <${ErrorNote} error=${error} />
    ${message && html`<p class="notice tone-ok">${message}</p>`}
    <${Table} columns=${columns} rows=${jobs} rowKey=${(j) => j.name} />
    <h3>Recent errors</h3>
    <${Table} columns=${errorColumns} rows=${errors} rowKey=${(e) => `${e.job}${e.i}`} empty="No recorded error." stack />
  <//>`;
}

function lastRun(run) {
  if (!run) return "never";
  const when = run.ended_at_ms || run.started_at_ms;
  const status = !run.ok ? html`<${Badge} tone="bad">failed<//>` : html`<${Badge} tone="ok">ok<//>`;
  return html`${status} ${ago(when)} <span class="muted">(${millis(run.duration_ms)})</span>`;
}

export function Metrics() {
  return html`<div class="page" id="page-metrics"><${Latency} /><${Http} /><${Jobs} /></div>`;
}
