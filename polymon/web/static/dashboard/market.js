// Market: search, then one token: metadata and 24 h statistics, mid-price candles (1m/5m),
// the live L2 ladder and depth chart (from memory, polled every second), recent trades and
// the token's gap history (both from storage).
import { html, useEffect, useState } from "../vendor/htm-preact-standalone.module.js";
import { usePoll } from "./api.js";
import { CandleChart, DepthChart } from "./charts.js";
import { Badge, Card, ErrorNote, Stat, Table, stateTone } from "./components.js";
import { clock, clockMs, decimal, int, num, secs, short } from "./format.js";

const LADDER_LEVELS = 10;
const BOOK_DEPTH = 100;
const WINDOW_HOURS = { "1m": 6, "5m": 48 };
const TOKEN_ID = /^[0-9]{6,128}$/;

function useDebounced(value, ms) {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setDebounced(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return debounced;
}

function MarketResults({ markets }) {
  return html`<ul class="results">
    ${markets.map((m) => html`<li key=${m.condition_id}>
      <div class="result-title">${m.question || m.slug}</div>
      <div class="result-meta muted">
        ${m.closed ? html`<${Badge} tone="neutral">closed<//>` : m.active ? html`<${Badge} tone="ok">active<//>` : null}
        volume ${decimal(m.volume)} · ends ${m.end_date_ms ? clock(m.end_date_ms) : "–"}
      </div>
      <div class="outcomes">
        ${m.token_ids.map((token, i) => html`<a class="outcome" href=${`#/market/${token}`} title=${token}>
          ${m.outcomes[i] || `token ${i + 1}`} <span class="muted">${m.outcome_prices[i] ?? ""}</span></a>`)}
      </div>
    </li>`)}
  </ul>`;
}

function Search() {
  const [text, setText] = useState("");
  const q = useDebounced(text.trim(), 300);
  const url = q ? `/api/v1/markets/search?q=${encodeURIComponent(q)}&limit=20` : "/api/v1/markets?limit=20&active=true&closed=false";
  const found = usePoll(url, 60_000);
  const items = found.data?.items || [];
  return html`<${Card} title="Markets" wide id="market-search">
    <form class="search" role="search" onSubmit=${(e) => {
      e.preventDefault();
      if (TOKEN_ID.test(text.trim())) location.hash = `#/market/${text.trim()}`;
    }}>
      <input type="search" id="market-q" placeholder="Search questions and slugs, or paste a token id" value=${text}
        onInput=${(e) => setText(e.target.value)} autocomplete="off" aria-label="Search markets" />
    </form>
    ${TOKEN_ID.test(text.trim()) && html`<p><a href=${`#/market/${text.trim()}`}>Open token ${short(text.trim())}</a></p>`}
    ${found.error?.status === 503
      ? html`<p class="notice tone-warn">Search needs storage (market metadata); paste a token id instead.</p>`
      : html`<${ErrorNote} error=${found.error} />`}
    ${!found.loading && !items.length && !found.error ? html`<p class="muted">No market matches.</p>` : null}
    <${MarketResults} markets=${items} />
  <//>`;
}

function Ladder({ book }) {
  if (!book) return html`<p class="muted">Waiting for the book…</p>`;
  const asks = book.asks.slice(0, LADDER_LEVELS);
  const bids = book.bids.slice(0, LADDER_LEVELS);
  const biggest = Math.max(1, ...asks.map((l) => Number(l.size)), ...bids.map((l) => Number(l.size)));
  const row = (level, side) => html`<tr class=${side} key=${`${side}${level.price}`}>
    <td class="num price">${level.price}</td>
    <td class="num size">
      <span class="bar" style=${{ width: `${Math.max(1, (100 * Number(level.size)) / biggest)}%` }}></span>
      <span class="bar-label">${decimal(level.size)}</span>
    </td>
  </tr>`;
  return html`<div class="ladder" id="ladder">
    <table>
      <thead><tr><th class="num">Price</th><th class="num">Size</th></tr></thead>
      <tbody>
        ${[...asks].reverse().map((l) => row(l, "ask"))}
        <tr class="spread"><td colspan="2">
          mid ${book.mid_price ?? "–"} · spread ${book.spread_bps === null || book.spread_bps === undefined ? "–" : `${book.spread_bps} bps`}
        </td></tr>
        ${bids.map((l) => row(l, "bid"))}
      </tbody>
    </table>
    <p class="muted small">${book.bids.length} bid and ${book.asks.length} ask levels · updated ${clockMs(book.timestamp_ms)}</p>
  </div>`;
}

function Details({ details, book }) {
  const m = details?.market;
  const s = details?.stats_24h;
  const top = book || details?.book;
  const siblings = m ? m.token_ids.map((t, i) => ({ token: t, outcome: m.outcomes[i] || `token ${i + 1}` })) : [];
  return html`<div class="details">
    <h2 class="market-title">${m?.question || details?.outcome || "Token"}</h2>
    <div class="outcomes">
      ${siblings.map((x) => html`<a class=${`outcome${x.token === details.asset_id ? " current" : ""}`} href=${`#/market/${x.token}`}>${x.outcome}</a>`)}
      <a class="outcome action" href=${`#/triggers?asset=${details?.asset_id || ""}`}>Create trigger…</a>
    </div>
    <div class="stats">
      <${Stat} label="Book" value=${html`<${Badge} tone=${stateTone(top?.status)}>${top?.status || "–"}<//>`} />
      <${Stat} label="Best bid / ask" value=${`${top?.best_bid ?? "–"} / ${top?.best_ask ?? "–"}`} />
      <${Stat} label="Mid" value=${top?.mid_price ?? "–"} note=${top?.spread_bps !== undefined && top?.spread_bps !== null ? `spread ${top.spread_bps} bps` : null} />
      <${Stat} label="24 h change" value=${s?.mid_change_pct === null || s?.mid_change_pct === undefined ? "–" : `${num(s.mid_change_pct, 2)} %`}
        note=${s ? `${s.mid_low ?? "–"} – ${s.mid_high ?? "–"}` : null} />
      <${Stat} label="24 h trades" value=${int(s?.trades)} note=${s ? `volume ${decimal(s.volume)}` : null} />
      <${Stat} label="24 h ticks" value=${int(s?.ticks)} note=${s?.mean_spread_bps ? `mean spread ${num(s.mean_spread_bps, 0)} bps` : null} />
    </div>
    <dl class="meta">
      <dt>Token</dt><dd class="mono">${details?.asset_id}</dd>
      <dt>Condition</dt><dd class="mono">${details?.condition_id || "–"}</dd>
      ${m && html`
        <dt>Slug</dt><dd>${m.slug}</dd>
        <dt>Ends</dt><dd>${m.end_date_ms ? clock(m.end_date_ms) : "–"}</dd>
        <dt>Volume</dt><dd>${decimal(m.volume)}</dd>
        <dt>Tick size</dt><dd>${m.tick_size} · min order ${m.min_order_size}${m.neg_risk ? " · neg risk" : ""}</dd>
        <dt>Status</dt><dd>${m.closed ? "closed" : m.active ? "active" : "inactive"}${m.accepting_orders ? ", accepting orders" : ""}${m.winning_outcome ? `, won by ${m.winning_outcome}` : ""}</dd>`}
    </dl>
  </div>`;
}

function AssetView({ assetId }) {
  const [interval, setBarInterval] = useState("1m");
  const base = `/api/v1/markets/${encodeURIComponent(assetId)}`;
  const details = usePoll(base, 10_000);
  const book = usePoll(`${base}/orderbook?depth=${BOOK_DEPTH}`, 1000);
  const ohlc = usePoll(`/api/v1/ohlc/${encodeURIComponent(assetId)}?interval=${interval}&hours=${WINDOW_HOURS[interval]}`, 15_000);
  const trades = usePoll(`${base}/trades?limit=50`, 5000);
  const gaps = usePoll(`${base}/gaps?limit=50`, 30_000);
  const storageOff = (r) => r.error?.status === 503;

  const tradeColumns = [
    { label: "Time", render: (t) => clockMs(t.ts_us / 1000) },
    { label: "Side", render: (t) => html`<span class=${t.side === "BUY" ? "up" : "down"}>${t.side}</span>` },
    { label: "Price", num: true, render: (t) => t.price },
    { label: "Size", num: true, render: (t) => decimal(t.size) },
    { label: "Notional", num: true, render: (t) => num(Number(t.price) * Number(t.size), 2) },
  ];
  const gapColumns = [
    { label: "Detected", render: (g) => clockMs(g.detected_at_us / 1000) },
    { label: "Reason", render: (g) => html`<span class="mono">${g.reason}</span>` },
    { label: "Resolved", render: (g) => (g.resolved_at_us ? clockMs(g.resolved_at_us / 1000) : html`<${Badge} tone="warn">open<//>`) },
    { label: "By", render: (g) => g.resolution || "–" },
    { label: "Lasted", num: true, render: (g) => (g.duration_ms === null ? "–" : secs(g.duration_ms / 1000)) },
    { label: "Detail", render: (g) => html`<span class="muted small">${g.detail || "–"}</span>` },
  ];

  return html`<div class="page market-page" id="page-market" data-asset=${assetId}>
    <p class="crumbs"><a href="#/market">← All markets</a></p>
    <${Card} wide>
      ${details.error?.status === 404
        ? html`<p class="notice tone-warn">Token ${short(assetId)} is neither tracked nor known.</p>`
        : html`<${ErrorNote} error=${details.error} />`}
      ${details.data && html`<${Details} details=${details.data} book=${book.data} />`}
    <//>
    <div class="grid-2-1">
      <${Card} title="Mid-price candles" actions=${html`<div class="toggle" role="group" aria-label="Interval">
          ${["1m", "5m"].map((i) => html`<button type="button" class=${interval === i ? "on" : ""} aria-pressed=${interval === i} onClick=${() => setBarInterval(i)}>${i}</button>`)}
        </div>`}>
        ${storageOff(ohlc) ? html`<p class="notice tone-warn">Candles need storage (storage.enabled = false).</p>` : html`<${ErrorNote} error=${ohlc.error} />`}
        <${CandleChart} candles=${ohlc.data?.candles} interval=${interval} />
        <p class="muted small">${ohlc.data ? `${ohlc.data.candles.length} ${ohlc.data.candles.length === 1 ? "candle" : "candles"} over ${WINDOW_HOURS[interval]} h` : "loading…"}</p>
      <//>
      <${Card} title="Order book">
        ${book.error?.status === 404 ? html`<p class="notice tone-warn">Not tracked: no live book.</p>` : html`<${ErrorNote} error=${book.error} />`}
        <${Ladder} book=${book.data} />
      <//>
    </div>
    <div class="grid-1-1">
      <${Card} title="Depth">
        <${DepthChart} book=${book.data} />
      <//>
      <${Card} title="Recent trades" id="trades">
        ${storageOff(trades) ? html`<p class="notice tone-warn">Trades need storage.</p>` : html`<${ErrorNote} error=${trades.error} />`}
        <div class="scroll">
          <${Table} columns=${tradeColumns} rows=${trades.data?.items || []} rowKey=${(t) => t.trade_id} empty="No trade in the last 24 h." />
        </div>
      <//>
    </div>
    <${Card} title=${html`Gap history <${Badge} tone=${gaps.data?.open ? "warn" : "neutral"}>${gaps.data ? `${gaps.data.count} · ${gaps.data.open} open` : "–"}<//>`} wide id="gaps">
      ${storageOff(gaps) ? html`<p class="notice tone-warn">Gap history needs storage.</p>` : html`<${ErrorNote} error=${gaps.error} />`}
      <${Table} columns=${gapColumns} rows=${gaps.data?.items || []} rowKey=${(g) => `${g.detected_at_us}${g.reason}`}
        empty="No gap in the last 7 days: every book checked out." stack />
    <//>
  </div>`;
}

export function Market({ assetId }) {
  return assetId ? html`<${AssetView} key=${assetId} assetId=${assetId} />` : html`<div class="page" id="page-market"><${Search} /></div>`;
}
