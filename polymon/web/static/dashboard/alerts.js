// Alert events for the whole dashboard: the last KEEP events, first from the buffer
// (GET /api/v1/triggers/events), then live from the SSE stream, resumed from the last id seen
// so nothing is missed or shown twice. One stream per open dashboard, whatever the page.
import { useEffect, useState } from "../vendor/htm-preact-standalone.module.js";
import { api } from "./api.js";

const KEEP = 100;
const SSE_PATH = "/api/v1/triggers/events/sse";

class AlertStore {
  constructor() {
    this.events = []; // newest first: {id, type, data, receivedMs}
    this.lastId = 0;
    this.status = "idle"; // idle | connecting | live | retrying
    this.subscribers = new Set();
    this.source = null;
  }

  emit() {
    for (const fn of this.subscribers) fn();
  }

  add(items) {
    const fresh = items.filter((e) => e.id > this.lastId);
    if (!fresh.length) return;
    this.lastId = fresh[fresh.length - 1].id;
    const now = Date.now();
    const added = fresh.reverse().map((e) => ({ ...e, receivedMs: now }));
    this.events = [...added, ...this.events].slice(0, KEEP);
    this.emit();
  }

  async load() {
    const body = await api(`/api/v1/triggers/events?limit=${KEEP}`);
    this.add(body.events);
  }

  async start() {
    if (this.source) return;
    this.status = "connecting";
    this.emit();
    try {
      await this.load();
    } catch {
      // the stream below replays what it can; the page shows the stream's state
    }
    this.open();
  }

  open() {
    const url = this.lastId ? `${SSE_PATH}?last_event_id=${this.lastId}` : SSE_PATH;
    const source = new EventSource(url);
    this.source = source;
    source.onopen = () => {
      this.status = "live";
      this.emit();
    };
    source.onerror = () => {
      // EventSource retries by itself (the server sends retry: 2000) with Last-Event-ID.
      this.status = source.readyState === EventSource.CLOSED ? "closed" : "retrying";
      this.emit();
    };
    source.onmessage = (m) => this.receive("message", m);
    for (const type of TRIGGER_TYPES) source.addEventListener(type, (m) => this.receive(type, m));
    source.addEventListener("reset", () => {
      // Our last id left the server's ring: take what the buffer holds now.
      this.load().catch(() => {});
    });
  }

  receive(type, message) {
    let data;
    try {
      data = JSON.parse(message.data);
    } catch {
      return;
    }
    const id = Number(message.lastEventId) || this.lastId + 1;
    this.add([{ id, type: data.trigger_type || type, data }]);
  }

  stop() {
    if (this.source) this.source.close();
    this.source = null;
    this.status = "idle";
    this.events = [];
    this.lastId = 0;
    this.emit();
  }
}

export const TRIGGER_TYPES = [
  "PRICE_ABOVE", "PRICE_BELOW", "SPREAD_NARROW", "SPREAD_WIDE", "IMBALANCE_BID",
  "IMBALANCE_ASK", "IMBALANCE_SHIFT", "SIZE_SPIKE", "PRICE_MOVE", "LARGE_FILL",
  "QUOTE_VELOCITY", "STALE_QUOTE", "ARBITRAGE_BUY", "ARBITRAGE_SELL", "LARGE_TRADE",
  "VOLUME_SPIKE",
];

export const alerts = new AlertStore();

/** The store's events (newest first) and stream status, re-rendering on every change. */
export function useAlerts() {
  const [, setTick] = useState(0);
  useEffect(() => {
    const fn = () => setTick((n) => n + 1);
    alerts.subscribers.add(fn);
    return () => alerts.subscribers.delete(fn);
  }, []);
  return { events: alerts.events, status: alerts.status };
}
