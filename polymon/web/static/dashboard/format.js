// Formatting for display. Prices and sizes arrive as exact decimal strings and are shown as
// they are (grouping digits only); numbers computed here (rates, latencies) are rounded.

const grouping = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/** An integer with thousands separators; "–" for null. */
export function int(value) {
  return value === null || value === undefined ? "–" : grouping.format(value);
}

/** A number with `digits` decimals (fewer for big values); "–" for null. */
export function num(value, digits = 1) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  const abs = Math.abs(value);
  const d = abs >= 1000 ? 0 : abs >= 100 ? Math.min(digits, 1) : digits;
  return value.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
}

/** An exact decimal string with its integer part grouped ("12500.5" -> "12,500.5"). */
export function decimal(text) {
  if (text === null || text === undefined || text === "") return "–";
  const s = String(text);
  const [whole, frac] = s.split(".");
  const neg = whole.startsWith("-");
  const digits = neg ? whole.slice(1) : whole;
  const grouped = digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return (neg ? "-" : "") + grouped + (frac !== undefined ? `.${frac}` : "");
}

/** Bytes in B / KiB / MiB / GiB. */
export function bytes(value) {
  if (value === null || value === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = value;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** A duration in seconds as "850 ms", "12.3 s", "4 min 5 s", "3 h 12 min". */
export function secs(value) {
  if (value === null || value === undefined) return "–";
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 60) return `${value.toFixed(1)} s`;
  if (value < 3600) return `${Math.floor(value / 60)} min ${Math.round(value % 60)} s`;
  return `${Math.floor(value / 3600)} h ${Math.round((value % 3600) / 60)} min`;
}

/** Microseconds as "420 µs", "12.5 ms" or "1.20 s". */
export function micros(value) {
  if (value === null || value === undefined) return "–";
  if (value < 1000) return `${num(value, 0)} µs`;
  if (value < 1_000_000) return `${num(value / 1000, 1)} ms`;
  return `${(value / 1_000_000).toFixed(2)} s`;
}

/** Milliseconds as "0.42 ms", "12 ms", "1.20 s". */
export function millis(value) {
  if (value === null || value === undefined) return "–";
  if (value < 10) return `${value.toFixed(2)} ms`;
  if (value < 1000) return `${Math.round(value)} ms`;
  return `${(value / 1000).toFixed(2)} s`;
}

const two = (n) => String(n).padStart(2, "0");

/** Epoch ms as local "HH:MM:SS" (with the date when not today). */
export function clock(epochMs) {
  if (!epochMs) return "–";
  const d = new Date(epochMs);
  const time = `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return time;
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${time}`;
}

/** Epoch ms with milliseconds, for event times: "HH:MM:SS.mmm". */
export function clockMs(epochMs) {
  if (!epochMs) return "–";
  return `${clock(epochMs)}.${String(Math.floor(epochMs % 1000)).padStart(3, "0")}`;
}

/** A long id shortened to its start and end: "7596524…31019". */
export function short(id, keep = 6) {
  if (!id) return "–";
  return id.length <= keep * 2 + 1 ? id : `${id.slice(0, keep)}…${id.slice(-keep)}`;
}

/** Epoch ms as "in 3 min" / "12 s ago". */
export function ago(epochMs, nowMs = Date.now()) {
  if (!epochMs) return "–";
  const delta = (nowMs - epochMs) / 1000;
  return delta >= 0 ? `${secs(delta)} ago` : `in ${secs(-delta)}`;
}
