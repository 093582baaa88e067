// Overview: feed connections, books by status, storage writers, gaps, and the newest alerts
// (live over SSE). Reads /health (not rate limited) and /shards/status every 2 s.
import { html } from "../vendor/htm-preact-standalone.module.js";
import { usePoll, useRates } from "./api.js";
import { useAlerts } from "./alerts.js";
import { Badge, Card, ErrorNote, Stat, Table, stateTone } from "./components.js";
import { bytes, clockMs, int, micros, num, secs, short } from "./format.js";

const PERIOD_MS = 2000;
const SHOWN_ALERTS = 20;

function sum(items, pick) {
  return items.reduce((total, item) => total + (pick(item) || 0), 0);
}

export function AlertTable({ events, empty }) {
  const columns = [
    { label: "Time", render: (e) => clockMs(e.data.fired_at / 1000) },
    { label: "Type", render: (e) => html`<span class="mono">${e.type}</span>` },
    { label: "Asset", render: (e) => html`<a href=${`#/market/${e.data.asset_id}`} class="mono" title=${e.data.asset_id}>${short(e.data.asset_id)}</a>` },
    { label: "Threshold", num: true, render: (e) => num(e.data.threshold, 4) },
    { label: "Actual", num: true, render: (e) => num(e.data.actual_value, 4) },
    { label: "Reference", num: true, render: (e) => (e.data.reference_value === undefined ? "–" : num(e.data.reference_value, 4)) },
    { label: "Bid / ask", num: true, render: (e) => `${e.data.best_bid ?? "–"} / ${e.data.best_ask ?? "–"}` },
    { label: "Processing", num: true, render: (e) => micros(e.data.processing_latency_us) },
    { label: "Venue → fired", num: true, render: (e) => (e.data.total_latency_us ? micros(e.data.total_latency_us) : "–") },
    { label: "Trigger", render: (e) => html`<span class="mono" title=${e.data.trigger_id}>${short(e.data.trigger_id, 5)}</span>` },
  ];
  return html`<${Table} columns=${columns} rows=${events} rowKey=${(e) => e.id}
    rowAttrs=${(e) => ({ "data-event-id": e.id, "data-fired-at": e.data.fired_at })} empty=${empty} stack />`;
}

export function Overview() {
  const health = usePoll("/health", PERIOD_MS);
  const status = usePoll("/shards/status", PERIOD_MS);
  const { events, status: stream } = useAlerts();
  const shards = status.data?.data.shards || [];
  const tables = health.data?.storage?.tables || {};

  const counters = {};
  for (const s of shards) {
    counters[`f${s.index}`] = s.frames;
    counters[`m${s.index}`] = s.messages;
  }
  const shardRates = useRates(status.data ? counters : null, status.data?.generated_at_ms);
  const writerCounters = {};
  for (const [name, t] of Object.entries(tables)) writerCounters[name] = t.rows_written;
  const writerRates = useRates(health.data ? writerCounters : null, health.at);

  const framesPerSec = shards.length && shards.every((s) => shardRates[`f${s.index}`] !== undefined)
    ? sum(shards, (s) => shardRates[`f${s.index}`]) : null;
  const books = health.data?.books || {};
  const gapsOpened = sum(shards, (s) => s.gaps_opened);
  const gapsResolved = sum(shards, (s) => s.gaps_resolved);
  const conns = shards.flatMap((s) => s.connections.map((c) => ({ ...c, shard: s.index })));
  const reconnects = sum(conns, (c) => Math.max(0, c.connects - 1));
  const storage = health.data?.storage;

  const shardColumns = [
    { label: "Shard", render: (s) => s.index },
    { label: "Tokens", num: true, render: (s) => int(s.assets) },
    { label: "Frames/s", num: true, render: (s) => num(shardRates[`f${s.index}`]) },
    { label: "Messages/s", num: true, render: (s) => num(shardRates[`m${s.index}`]) },
    { label: "Last frame", num: true, render: (s) => (s.last_frame_age_secs === null ? "never" : `${secs(s.last_frame_age_secs)} ago`) },
    { label: "Invalid", num: true, render: (s) => int(s.invalid_total) },
    { label: "Gaps open", num: true, render: (s) => int(Math.max(0, s.gaps_opened - s.gaps_resolved)) },
    { label: "Gaps resolved", num: true, render: (s) => int(s.gaps_resolved) },
    { label: "Triggers", num: true, render: (s) => int(s.triggers) },
  ];
  const connColumns = [
    { label: "Connection", render: (c) => html`<span class="mono">${c.name}</span>` },
    { label: "State", render: (c) => html`<${Badge} tone=${stateTone(c.state)}>${c.state}<//>` },
    { label: "Tokens", num: true, render: (c) => int(c.assets) },
    { label: "Last frame", num: true, render: (c) => (c.last_frame_age_secs === null ? "never" : `${secs(c.last_frame_age_secs)} ago`) },
    { label: "Up", num: true, render: (c) => secs(c.up_secs) },
    { label: "Reconnects", num: true, render: (c) => int(Math.max(0, c.connects - 1)) },
    { label: "Last error", render: (c) => html`<span class="muted">${c.last_error || "–"}</span>` },
  ];
  const writerRows = Object.entries(tables).map(([name, t]) => ({ name, ...t }));
  const writerColumns = [
    { label: "Table", render: (w) => html`<span class="mono">${w.name}</span>` },
    { label: "Rows/s", num: true, render: (w) => num(writerRates[w.name]) },
    { label: "Written", num: true, render: (w) => int(w.rows_written) },
    { label: "Backlog", num: true, render: (w) => int(w.backlog_rows) },
    { label: "Journal", num: true, render: (w) => (w.journal_batches ? `${int(w.journal_batches)} · ${bytes(w.journal_bytes)}` : "0") },
    { label: "Retries", num: true, render: (w) => int(w.retries) },
    { label: "Dropped", num: true, render: (w) => int(w.rows_dropped) },
    { label: "State", render: (w) => html`<span title=${w.last_error || ""}>${w.outage ? html`<${Badge} tone="bad">outage<//>` : html`<${Badge} tone="ok">ok<//>`}</span>` },
    { label: "Last error", render: (w) => html`<span class="muted small">${w.last_error || "–"}</span>` },
  ];

  return html`<div class="page" id="page-overview">
    <${ErrorNote} error=${health.error} what="/health" />
    <${ErrorNote} error=${status.error} what="/shards/status" />
    <div class="stats">
      <${Stat} label="Tracked tokens" value=${int(health.data?.assets)}
        note=${health.data && !health.data.bootstrapped ? "bootstrapping…" : health.data?.bootstrap_error || null} />
      <${Stat} label="Connections open" value=${health.data ? `${health.data.connections_open} / ${health.data.connections}` : "–"}
        tone=${health.data && health.data.connections_open < health.data.connections ? "warn" : null}
        note=${`${int(reconnects)} reconnects`} />
      <${Stat} label="Frames/s" value=${num(framesPerSec)} note=${`${shards.length} shards`} />
      <${Stat} label="Books" value=${int(books.fresh || 0)} note=${`fresh · ${int(books.stale || 0)} stale · ${int(books.resyncing || 0)} resyncing`}
        tone=${books.resyncing ? "warn" : null} />
      <${Stat} label="Gaps" value=${int(Math.max(0, gapsOpened - gapsResolved))} note=${`open · ${int(gapsResolved)} resolved`}
        tone=${gapsOpened > gapsResolved ? "warn" : null} />
      <${Stat} label="Storage" value=${!storage ? "–" : !storage.enabled ? "off" : storage.unavailable ? "outage" : "ok"}
        tone=${storage?.unavailable ? "bad" : null}
        note=${storage?.enabled ? `${int(sum(writerRows, (w) => w.backlog_rows))} rows pending` : null} />
    </div>
    <${Card} title=${html`Alerts <${Badge} tone=${stream === "live" ? "ok" : "warn"}>${stream}<//>`} wide id="alerts">
      <${AlertTable} events=${events.slice(0, SHOWN_ALERTS)} empty="No alert yet: create a trigger on the Triggers page." />
    <//>
    <${Card} title="Shards" wide>
      <${Table} columns=${shardColumns} rows=${shards} rowKey=${(s) => s.index} />
    <//>
    <${Card} title="Connections" wide>
      <${Table} columns=${connColumns} rows=${conns} rowKey=${(c) => c.name} />
    <//>
    <${Card} title="Storage writers" wide>
      ${storage && !storage.enabled
        ? html`<p class="muted">Storage is off in this process (storage.enabled = false).</p>`
        : html`<${Table} columns=${writerColumns} rows=${writerRows} rowKey=${(w) => w.name} />`}
      ${storage?.sink_rows_dropped ? html`<p class="notice tone-warn">${int(storage.sink_rows_dropped)} rows could not be handed to a writer.</p>` : null}
    <//>
  </div>`;
}
