// Small building blocks shared by the pages.
import { html } from "../vendor/htm-preact-standalone.module.js";

/** A titled panel; `actions` go to the right of the title. */
export function Card({ title, actions, children, wide, id }) {
  return html`<section class=${`card${wide ? " wide" : ""}`} id=${id}>
    ${title && html`<header class="card-head"><h2>${title}</h2>${actions && html`<div class="actions">${actions}</div>`}</header>`}
    <div class="card-body">${children}</div>
  </section>`;
}

/** One figure with its label and an optional note under it. */
export function Stat({ label, value, note, tone }) {
  return html`<div class=${`stat${tone ? ` tone-${tone}` : ""}`}>
    <div class="stat-label">${label}</div>
    <div class="stat-value">${value}</div>
    ${note && html`<div class="stat-note">${note}</div>`}
  </div>`;
}

/** A table that scrolls sideways on a narrow screen. `columns`: [{key, label, num, render}]. */
export function Table({ columns, rows, rowKey, empty = "Nothing yet.", rowAttrs, caption, stack }) {
  // `stack`: on a phone each row becomes a small block of "label: value" pairs.
  return html`<div class="table-wrap">
    <table class=${stack ? "stack" : ""}>
      ${caption && html`<caption>${caption}</caption>`}
      <thead><tr>${columns.map((c) => html`<th class=${c.num ? "num" : ""} scope="col">${c.label}</th>`)}</tr></thead>
      <tbody>
        ${rows.length === 0
          ? html`<tr><td class="empty" colspan=${columns.length}>${empty}</td></tr>`
          : rows.map(
              (row, i) => html`<tr key=${rowKey ? rowKey(row) : i} ...${rowAttrs ? rowAttrs(row) : {}}>
                ${columns.map((c) => html`<td class=${c.num ? "num" : ""} data-label=${c.label}>${c.render ? c.render(row) : row[c.key]}</td>`)}
              </tr>`,
            )}
      </tbody>
    </table>
  </div>`;
}

/** A coloured label: ok, warn, bad or neutral. */
export function Badge({ tone = "neutral", children }) {
  return html`<span class=${`badge tone-${tone}`}>${children}</span>`;
}

/** An API error (or any Error) as a one-line notice; nothing for null. */
export function ErrorNote({ error, what }) {
  if (!error) return null;
  const text = error.status === 503 ? `${what ? `${what}: ` : ""}unavailable (${error.detail || error.code})` : `${what ? `${what}: ` : ""}${error.message}`;
  return html`<p class="notice tone-bad" role="alert">${text}</p>`;
}

/** The tone of a book or connection state. */
export function stateTone(state) {
  if (state === "fresh" || state === "open") return "ok";
  if (state === "stale" || state === "backoff" || state === "connecting") return "warn";
  if (state === "resyncing" || state === "closed" || state === "failed") return "bad";
  return "neutral";
}
