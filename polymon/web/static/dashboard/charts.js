// The two charts of the market page, on TradingView Lightweight Charts (vendored; its
// attribution logo stays on, as its licence asks): mid-price candles and the order book's
// cumulative depth. Charts take the size of their container (autoSize) and the page's colours.
import { html, useEffect, useRef } from "../vendor/htm-preact-standalone.module.js";
import {
  AreaSeries,
  CandlestickSeries,
  ColorType,
  createChart,
  createOptionsChart,
  LineType,
} from "../vendor/lightweight-charts.standalone.production.mjs";

function color(name, fallback) {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

function baseOptions() {
  const text = color("--text-muted", "#5b6472");
  const grid = color("--grid", "#eef0f4");
  return {
    autoSize: true,
    layout: { background: { type: ColorType.Solid, color: "transparent" }, textColor: text, fontSize: 11, attributionLogo: true },
    grid: { vertLines: { color: grid }, horzLines: { color: grid } },
    rightPriceScale: { borderVisible: false },
    timeScale: { borderVisible: false },
  };
}

const PRICE_FORMAT = { type: "price", precision: 4, minMove: 0.0001 };
const FIT_CANDLES = 40;

/** Candles of `candles` ([{t, open, high, low, close}], exact strings), replaced on change. */
export function CandleChart({ candles, interval }) {
  const box = useRef(null);
  const chart = useRef(null);
  useEffect(() => {
    const c = createChart(box.current, {
      ...baseOptions(),
      timeScale: { borderVisible: false, timeVisible: true, secondsVisible: false, barSpacing: 10, rightOffset: 2 },
    });
    const series = c.addSeries(CandlestickSeries, {
      upColor: color("--up", "#089981"), downColor: color("--down", "#f23645"),
      wickUpColor: color("--up", "#089981"), wickDownColor: color("--down", "#f23645"),
      borderVisible: false, priceFormat: PRICE_FORMAT,
    });
    chart.current = { chart: c, series, fitted: false };
    return () => c.remove();
  }, []);
  useEffect(() => {
    if (chart.current) chart.current.fitted = false;
  }, [interval]);
  useEffect(() => {
    const current = chart.current;
    if (!current || !candles) return;
    current.series.setData(candles.map((k) => ({
      time: k.t, open: Number(k.open), high: Number(k.high), low: Number(k.low), close: Number(k.close),
    })));
    if (!current.fitted && candles.length) {
      // A short history keeps the default bar width at the right edge (fitting two candles
      // would blow them up to the chart's full width); a long one is shown whole.
      if (candles.length >= FIT_CANDLES) current.chart.timeScale().fitContent();
      else current.chart.timeScale().scrollToRealTime();
      current.fitted = true;
    }
  }, [candles]);
  return html`<div class="chart" id="candle-chart" ref=${box}></div>`;
}

const UNITS = 1_000_000; // prices in 1e-6 units, as the service keeps them
const MAX_POINTS = 500;

function gcd(a, b) {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * The depth chart's two series on one regular price grid, so that the chart's horizontal
 * scale (which spaces points evenly) is linear in price. `bids` and `asks` are the book's
 * levels, best first. The grid is symmetric around the spread: from the best bid down and
 * the best ask up by the shorter of the two sides' spans (the whole book when one side is
 * empty), in steps of the price tick (the gcd of every level's price), coarser when that
 * would exceed MAX_POINTS.
 * At a grid price p, the bid value is the size bid at p or above (p up to the best bid) and
 * the ask value the size offered at p or below (p from the best ask); elsewhere a series has
 * whitespace. O(grid points + levels).
 */
export function depthSeries(bids, asks) {
  const toUnits = (levels) => levels.map((l) => [Math.round(Number(l.price) * UNITS), Number(l.size)]);
  const b = toUnits(bids); // descending price
  const a = toUnits(asks); // ascending price
  if (!b.length && !a.length) return { bids: [], asks: [] };
  const prices = [...b, ...a].map(([p]) => p);
  const tick = prices.reduce((g, p) => gcd(g, p), 0) || 1;
  const bestBid = b.length ? b[0][0] : -Infinity;
  const bestAsk = a.length ? a[0][0] : Infinity;
  let lo = Math.min(...prices);
  let hi = Math.max(...prices);
  if (b.length && a.length) {
    const span = Math.min(bestBid - b[b.length - 1][0], a[a.length - 1][0] - bestAsk);
    lo = bestBid - span;
    hi = bestAsk + span;
  }
  const step = tick * Math.max(1, Math.ceil((hi - lo) / tick / MAX_POINTS));
  const bidOut = [];
  const askOut = [];
  // Bids: walk the grid downwards from the top, adding levels as the price passes them.
  const grid = [];
  for (let x = lo; x <= hi; x += step) grid.push(x);
  if (grid[grid.length - 1] !== hi) grid.push(hi);
  let total = 0;
  let i = 0;
  const bidValues = new Array(grid.length);
  for (let k = grid.length - 1; k >= 0; k -= 1) {
    while (i < b.length && b[i][0] >= grid[k]) total += b[i++][1];
    bidValues[k] = grid[k] <= bestBid ? total : null;
  }
  total = 0;
  i = 0;
  for (let k = 0; k < grid.length; k += 1) {
    while (i < a.length && a[i][0] <= grid[k]) total += a[i++][1];
    const time = grid[k] / UNITS;
    bidOut.push(bidValues[k] === null ? { time } : { time, value: bidValues[k] });
    askOut.push(grid[k] >= bestAsk ? { time, value: total } : { time });
  }
  return { bids: bidOut, asks: askOut };
}

/** The book's depth: x is the price, y the cumulative size on each side. */
export function DepthChart({ book }) {
  const box = useRef(null);
  const chart = useRef(null);
  useEffect(() => {
    const c = createOptionsChart(box.current, {
      ...baseOptions(),
      localization: { precision: 3, priceFormatter: (v) => Math.round(v).toLocaleString("en-US") },
      timeScale: { borderVisible: false, fixLeftEdge: true, fixRightEdge: true },
      rightPriceScale: { borderVisible: false, scaleMargins: { top: 0.08, bottom: 0 } },
      handleScroll: false,
      handleScale: false,
    });
    const up = color("--up", "#089981");
    const down = color("--down", "#f23645");
    const side = (line) => ({
      lineColor: line, topColor: `${line}55`, bottomColor: `${line}08`, lineWidth: 2,
      lineType: LineType.WithSteps, priceLineVisible: false, lastValueVisible: false,
      // Depth starts at zero: the axis never shows negative sizes.
      autoscaleInfoProvider: (original) => {
        const info = original();
        if (info) info.priceRange.minValue = 0;
        return info;
      },
    });
    const bids = c.addSeries(AreaSeries, side(up));
    const asks = c.addSeries(AreaSeries, side(down));
    chart.current = { chart: c, bids, asks };
    return () => c.remove();
  }, []);
  useEffect(() => {
    const current = chart.current;
    if (!current || !book) return;
    const { bids, asks } = depthSeries(book.bids, book.asks);
    current.bids.setData(bids);
    current.asks.setData(asks);
    current.chart.timeScale().fitContent(); // the chart does not scroll or zoom
  }, [book]);
  return html`<div class="chart" id="depth-chart" ref=${box}></div>`;
}
