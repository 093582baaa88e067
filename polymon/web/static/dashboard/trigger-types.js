// The parameters of every trigger type, for the create form (polymon/core/triggers/spec.py
// is the authority: the API validates every value and its error is shown as it is).
// kind: decimal (sent as a string, exact), int, select (options), bool, asset (a token id).

const WINDOW = { name: "window_ms", kind: "int", required: true, hint: "ms, 1–86400000" };
const LEVELS = { name: "levels", kind: "int", default: 5, hint: "1–100" };
const PRICE_SIDE = { name: "side", kind: "select", options: ["MID", "BID", "ASK"], default: "MID" };
const BOOK_SIDE = { name: "side", kind: "select", options: ["BOTH", "BID", "ASK"], default: "BOTH" };
const PAIRED = { name: "paired_asset_id", kind: "asset", required: true, hint: "the other token" };

export const TRIGGER_PARAMS = {
  PRICE_ABOVE: {
    help: "The side's price goes above the threshold.",
    params: [{ name: "threshold", kind: "decimal", required: true, hint: "price in [0, 1)" }, PRICE_SIDE],
  },
  PRICE_BELOW: {
    help: "The side's price goes below the threshold.",
    params: [{ name: "threshold", kind: "decimal", required: true, hint: "price in (0, 1]" }, PRICE_SIDE],
  },
  SPREAD_NARROW: {
    help: "The absolute spread (ask − bid) goes below the threshold.",
    params: [{ name: "threshold", kind: "decimal", required: true, hint: "in (0, 1]" }],
  },
  SPREAD_WIDE: {
    help: "The absolute spread (ask − bid) goes above the threshold.",
    params: [{ name: "threshold", kind: "decimal", required: true, hint: "in [0, 1)" }],
  },
  IMBALANCE_BID: {
    help: "Top-levels imbalance (B − A) / (B + A) reaches +threshold (bid heavy).",
    params: [{ name: "threshold", kind: "decimal", required: true, hint: "in (0, 1]" }, LEVELS],
  },
  IMBALANCE_ASK: {
    help: "Top-levels imbalance reaches −threshold (ask heavy).",
    params: [{ name: "threshold", kind: "decimal", required: true, hint: "in (0, 1]" }, LEVELS],
  },
  IMBALANCE_SHIFT: {
    help: "The imbalance changes by at least delta within the window.",
    params: [{ name: "delta", kind: "decimal", required: true, hint: "in (0, 2]" }, WINDOW, LEVELS],
  },
  SIZE_SPIKE: {
    help: "Size at the best bid/ask reaches min_size, or multiplier × its recent mean.",
    params: [
      { name: "multiplier", kind: "decimal", hint: "in (1, 1e6]; this and/or min_size" },
      { name: "min_size", kind: "decimal", hint: "shares" },
      { ...WINDOW, required: false, default: 60000 },
      BOOK_SIDE,
    ],
  },
  PRICE_MOVE: {
    help: "The side's price moves by at least pct % within the window.",
    params: [{ name: "pct", kind: "decimal", required: true, hint: "percent, (0, 10000]" }, WINDOW, PRICE_SIDE],
  },
  LARGE_FILL: {
    help: "A level update takes at least min_size off the best level (any level if any_level).",
    params: [{ name: "min_size", kind: "decimal", required: true, hint: "shares" }, BOOK_SIDE,
      { name: "any_level", kind: "bool", default: false }],
  },
  QUOTE_VELOCITY: {
    help: "At least count best bid/ask updates within the window.",
    params: [{ name: "count", kind: "int", required: true, hint: "1–10000" }, WINDOW],
  },
  STALE_QUOTE: {
    help: "No best bid/ask update for threshold_ms.",
    params: [{ name: "threshold_ms", kind: "int", required: true, hint: "ms, 1–86400000" }],
  },
  ARBITRAGE_BUY: {
    help: "Best ask of this token + best ask of the paired token < threshold.",
    params: [{ name: "threshold", kind: "decimal", required: true, hint: "in (0, 2)" }, PAIRED],
  },
  ARBITRAGE_SELL: {
    help: "Best bid of this token + best bid of the paired token > threshold.",
    params: [{ name: "threshold", kind: "decimal", required: true, hint: "in (0, 2)" }, PAIRED],
  },
  LARGE_TRADE: {
    help: "One trade of at least min_size shares or min_notional (price × size).",
    params: [
      { name: "min_size", kind: "decimal", hint: "shares; this and/or min_notional" },
      { name: "min_notional", kind: "decimal", hint: "USDC" },
      { name: "side", kind: "select", options: ["BOTH", "BUY", "SELL"], default: "BOTH" },
    ],
  },
  VOLUME_SPIKE: {
    help: "Traded size within the window reaches min_volume, or multiplier × the window before.",
    params: [
      WINDOW,
      { name: "min_volume", kind: "decimal", hint: "shares; this and/or multiplier" },
      { name: "multiplier", kind: "decimal", hint: "in (1, 1e6]" },
    ],
  },
};

/**
 * The request body of POST /triggers from the form's text values. Empty optional fields are
 * left out (the API's defaults apply); ints are sent as numbers when they parse, else as the
 * text (the API then names the field); decimals as strings, so they stay exact.
 */
export function triggerBody(form) {
  const spec = TRIGGER_PARAMS[form.type];
  const condition = { type: form.type };
  for (const p of spec ? spec.params : []) {
    const raw = form.params[p.name];
    if (p.kind === "bool") {
      if (raw !== undefined) condition[p.name] = Boolean(raw);
      continue;
    }
    const text = raw === undefined || raw === null ? "" : String(raw).trim();
    if (text === "") continue;
    if (p.kind === "int") condition[p.name] = /^-?\d+$/.test(text) ? Number(text) : text;
    else condition[p.name] = text;
  }
  const body = { asset_id: form.asset_id.trim(), condition };
  const cooldown = String(form.cooldown_ms ?? "").trim();
  if (cooldown !== "") body.cooldown_ms = /^\d+$/.test(cooldown) ? Number(cooldown) : cooldown;
  for (const key of ["condition_id", "webhook_url", "webhook_secret"]) {
    const value = String(form[key] ?? "").trim();
    if (value) body[key] = value;
  }
  return body;
}
