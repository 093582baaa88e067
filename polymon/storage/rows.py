"""What each writable table takes: its columns, and the conversion of core rows to columns.

The column lists mirror `schema/*.sql` (a test compares them with the live tables). Prices
and sizes travel as integer 1e-6 units, written straight into the Decimal(18, 6) columns
(`UNITS`, and `UNITS_ARRAY` for the depth arrays of ob_snapshots); timestamps as integer
microseconds into DateTime64(6). Conversions are column-oriented and vectorised: one numpy
pass per numeric column over a batch (`sizes_as_units`), no Decimal arithmetic and no
per-row objects; the columns stay plain lists of Python ints and strings (the journal stores them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from itertools import chain
from typing import Any

import msgspec
import numpy as np

from polymon.core.asset import BboRow, LevelRow, SnapshotRow, TradeRow
from polymon.core.model import GapEvent
from polymon.core.prices import PRICE_SCALE
from polymon.errors import StorageRejected

UNITS = "Units"
"""Column type marker: Decimal(18, 6) written from integer units of 1e-6."""
UNITS_ARRAY = "Array(Units)"
"""Column type marker: Array(Decimal(18, 6)) written from lists of integer units of 1e-6."""

Columns = list[list[Any]]
Item = tuple[int, list[Any]]
"""(shard index, rows) as a shard hands them to a writer."""

MetadataRow = tuple[Any, ...]
"""A market_metadata row in column order (built by the service from a Gamma market)."""


class Table(msgspec.Struct, frozen=True):
    """A writable table: name, (column, ClickHouse type) pairs, and whether inserts dedup."""

    name: str
    columns: tuple[tuple[str, str], ...]

    @property
    def names(self) -> list[str]:
        """Column names in insert order."""
        return [name for name, _ in self.columns]


_TS = "DateTime64(6, 'UTC')"
_KEY = (("asset_id", "String"), ("condition_id", "LowCardinality(String)"))
_TIMES = (("source_ts", _TS), ("ingest_ts", _TS))
_ORIGIN = (("run_id", "LowCardinality(String)"), ("shard", "UInt16"), ("seq", "UInt64"))

BBO = Table(
    "ob_bbo",
    (*_KEY, *_TIMES, ("best_bid", UNITS), ("bid_size", UNITS), ("best_ask", UNITS),
     ("ask_size", UNITS), *_ORIGIN),
)  # fmt: skip
LEVELS = Table(
    "ob_level_changes",
    (*_KEY, *_TIMES, ("side", "Enum8('BID' = 1, 'ASK' = 2)"), ("price", UNITS), ("size", UNITS),
     ("prev_size", UNITS), *_ORIGIN),
)  # fmt: skip
TRADES = Table(
    "trade_ticks",
    (*_KEY, *_TIMES, ("trade_id", "String"), ("side", "Enum8('BUY' = 1, 'SELL' = 2)"),
     ("price", UNITS), ("size", UNITS), ("fee_rate_bps", "UInt32"),
     ("transaction_hash", "String"), *_ORIGIN),
)  # fmt: skip
_DECIMALS = UNITS_ARRAY
SNAPSHOTS = Table(
    "ob_snapshots",
    (*_KEY, *_TIMES, ("reason", "LowCardinality(String)"), ("status", "LowCardinality(String)"),
     ("book_hash", "String"), ("tick_size", "String"), ("bid_prices", _DECIMALS),
     ("bid_sizes", _DECIMALS), ("ask_prices", _DECIMALS), ("ask_sizes", _DECIMALS),
     ("run_id", "LowCardinality(String)"), ("seq", "UInt64")),
)  # fmt: skip
GAPS = Table(
    "ob_gap_events",
    (*_KEY, ("reason", "LowCardinality(String)"), ("detected_at", _TS),
     ("resolved_at", "Nullable(DateTime64(6, 'UTC'))"), ("resolution", "LowCardinality(String)"),
     ("detail", "String")),
)  # fmt: skip
_MS = "Nullable(DateTime64(3, 'UTC'))"
METADATA = Table(
    "market_metadata",
    (("condition_id", "String"), ("market_id", "String"), ("question", "String"),
     ("slug", "String"), ("description", "String"), ("outcomes", "Array(String)"),
     ("token_ids", "Array(String)"), ("outcome_prices", "Array(String)"),
     ("tick_size", "String"), ("min_order_size", "String"), ("neg_risk", "Bool"),
     ("active", "Bool"), ("closed", "Bool"), ("archived", "Bool"),
     ("accepting_orders", "Bool"), ("end_date", _MS), ("closed_time", _MS),
     ("uma_resolution_status", "String"), ("winning_outcome", "String"),
     ("winning_asset_id", "String"), ("resolved_at", "Nullable(DateTime64(6, 'UTC'))"),
     ("volume", "String"), ("raw_json", "String"), ("updated_at", _TS)),
)  # fmt: skip
DEAD_LETTERS = Table(
    "ob_dead_letters",
    (("failed_at", _TS), ("target_table", "LowCardinality(String)"), ("reason", "String"),
     ("row_json", "String"), ("batch_token", "String")),
)  # fmt: skip

TABLES = (BBO, LEVELS, TRADES, SNAPSHOTS, GAPS, METADATA, DEAD_LETTERS)
_SIDE_NAMES = ("BID", "ASK")


# Sizes use the price scale (core.prices): integer units of 1e-6, six decimal places.
_SIZE_DECIMALS = len(str(PRICE_SCALE)) - 1
_SCALE_F = float(PRICE_SCALE)
_SIZE_CACHE_LIMIT = 100_000
_size_cache: dict[str, int] = {}


def parse_size_units(text: str) -> int:
    """A venue size string ("12.5", "0", "1e3") as integer 1e-6 units; "" (no level) is 0.

    O(1) for a size seen before (bounded cache: top-of-book sizes repeat), else O(len(text)).
    Raises StorageRejected for text that is not a non-negative decimal.
    """
    units = _size_cache.get(text)
    if units is None:
        units = _parse_size_text(text)
        if len(_size_cache) < _SIZE_CACHE_LIMIT:
            _size_cache[text] = units
    return units


_EXACT_BELOW = 2e9  # n * 1e6 < 2**51: a float times 1e6 rounds to the nearest integer exactly


def sizes_as_units(values: Sequence[float], texts: Sequence[str] | None = None) -> list[int]:
    """Sizes as integer 1e-6 units, in one numpy pass: exact for every value that is the
    nearest float of a decimal with at most six decimals below 2e9 (checked: its units
    divided back give the same float). Any other value (more decimals, huge, negative, not
    finite) goes through `parse_size_units` on its text (`texts[i]`, else the float's shortest
    repr), which rounds exactly or raises StorageRejected. O(n).
    """
    floats = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = np.rint(floats * _SCALE_F)
        exact = (scaled / _SCALE_F == floats) & (floats >= 0) & (floats < _EXACT_BELOW)
    units: list[int] = np.where(exact, scaled, 0).astype(np.int64).tolist()
    if not exact.all():
        for i in np.flatnonzero(~exact).tolist():
            units[i] = parse_size_units(texts[i] if texts is not None else repr(float(values[i])))
    return units


def size_texts_as_units(texts: Sequence[str]) -> list[int]:
    """Venue size strings ("12.5"; "" for an empty side is 0) as integer 1e-6 units: parsed
    by `float` in C, made exact by `sizes_as_units`. ValueError for text that is not a number."""
    return sizes_as_units([float(t) if t else 0.0 for t in texts], texts)


def _size_lists_to_units(lists: Sequence[list[float]]) -> list[list[int]]:
    """Each list of sizes as units, in one `sizes_as_units` pass over all of them; O(values)."""
    flat = sizes_as_units(list(chain.from_iterable(lists)))
    out: list[list[int]] = []
    start = 0
    for values in lists:
        end = start + len(values)
        out.append(flat[start:end])
        start = end
    return out


def _parse_size_text(text: str) -> int:
    whole, _, frac = text.partition(".")
    if whole.isdigit() and len(frac) <= _SIZE_DECIMALS and (not frac or frac.isdigit()):
        return int(whole) * PRICE_SCALE + (int(frac.ljust(_SIZE_DECIMALS, "0")) if frac else 0)
    if not text:
        return 0
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise StorageRejected(f"size {text[:40]!r} is not a decimal") from None
    if not value.is_finite() or value < 0:
        raise StorageRejected(f"size {text[:40]!r} is not a non-negative number")
    return round(value * PRICE_SCALE)


def _flatten(items: Sequence[Item]) -> tuple[list[Any], list[int]]:
    rows: list[Any] = []
    shards: list[int] = []
    for shard, batch in items:
        rows.extend(batch)
        shards.extend([shard] * len(batch))
    return rows, shards


def _ms_to_us(values: Sequence[int]) -> list[int]:
    us: list[int] = (np.asarray(values, dtype=np.int64) * 1000).tolist()
    return us


def bbo_columns(items: Sequence[Item], run_id: str) -> Columns:
    """ob_bbo columns from shard batches of BboRow."""
    rows, shards = _flatten(items)
    rows_t: list[BboRow] = rows
    aid, market, ts, recv, bid, bid_sz, ask, ask_sz, seq = (
        list(c) for c in zip(*rows_t, strict=True)
    )
    return [
        aid, market, _ms_to_us(ts), recv, bid, size_texts_as_units(bid_sz), ask,
        size_texts_as_units(ask_sz), [run_id] * len(rows), shards, seq,
    ]  # fmt: skip


def level_columns(items: Sequence[Item], run_id: str) -> Columns:
    """ob_level_changes columns from shard batches of LevelRow."""
    rows, shards = _flatten(items)
    rows_t: list[LevelRow] = rows
    aid, market, ts, recv, side, price, size_text, size, prev, seq = (
        list(c) for c in zip(*rows_t, strict=True)
    )
    # The previous size exists only as the float the book held: exact up to 15 significant
    # digits (every realistic size); the new size falls back to its venue text.
    return [
        aid, market, _ms_to_us(ts), recv, [_SIDE_NAMES[s] for s in side], price,
        sizes_as_units(size, size_text), sizes_as_units(prev), [run_id] * len(rows), shards,
        seq,
    ]  # fmt: skip


def _fee(text: str) -> int:
    try:
        return int(text) if text else 0
    except ValueError:
        raise StorageRejected(f"fee_rate_bps {text[:20]!r} is not an integer") from None


def _trade_side(side: str) -> str:
    if side != "BUY" and side != "SELL":
        raise StorageRejected(f"trade side {side[:10]!r} is neither BUY nor SELL")
    return side


def trade_columns(items: Sequence[Item], run_id: str) -> Columns:
    """trade_ticks columns from shard batches of TradeRow."""
    rows, shards = _flatten(items)
    rows_t: list[TradeRow] = rows
    aid, market, ts, recv, tid, price, size_text, _size, side, fee, tx, seq = (
        list(c) for c in zip(*rows_t, strict=True)
    )
    return [
        aid, market, _ms_to_us(ts), recv, tid, [_trade_side(s) for s in side], price,
        size_texts_as_units(size_text), [_fee(f) for f in fee], tx, [run_id] * len(rows), shards,
        seq,
    ]  # fmt: skip


def snapshot_columns(items: Sequence[Item], run_id: str) -> Columns:
    """ob_snapshots columns from batches of SnapshotRow (prices already in units; the sizes
    of all rows converted in one pass)."""
    rows, _shards = _flatten(items)
    rows_t: list[SnapshotRow] = rows
    columns: Columns = [list(c) for c in zip(*rows_t, strict=True)]
    columns[2] = _ms_to_us(columns[2])
    columns[9] = _size_lists_to_units(columns[9])
    columns[11] = _size_lists_to_units(columns[11])
    seq = columns.pop()
    return [*columns, [run_id] * len(rows), seq]


def gap_columns(items: Sequence[Item], _run_id: str) -> Columns:
    """ob_gap_events columns from batches of GapEvent (an open gap has no resolved_at)."""
    rows, _shards = _flatten(items)
    gaps: list[GapEvent] = rows
    return [
        [g.asset_id for g in gaps],
        [g.market for g in gaps],
        [g.reason for g in gaps],
        [g.detected_us for g in gaps],
        [g.resolved_us or None for g in gaps],
        [g.how for g in gaps],
        [g.detail for g in gaps],
    ]


def plain_columns(items: Sequence[Item], _run_id: str) -> Columns:
    """Columns of rows that are already in column order (market_metadata, dead letters)."""
    rows, _shards = _flatten(items)
    return [list(c) for c in zip(*rows, strict=True)]


SLICE_ROWS: dict[str, int] = {SNAPSHOTS.name: 20}
"""Rows per conversion step for tables whose rows are much bigger than a tick: an ob_snapshots
row carries a whole book (~100 values), so 20 of them cost what 250 BBO rows do."""

Converter = Callable[[Sequence[Item], str], Columns]
CONVERTERS: dict[str, Converter] = {
    BBO.name: bbo_columns,
    LEVELS.name: level_columns,
    TRADES.name: trade_columns,
    SNAPSHOTS.name: snapshot_columns,
    GAPS.name: gap_columns,
    METADATA.name: plain_columns,
    DEAD_LETTERS.name: plain_columns,
}


def row_count(columns: Columns) -> int:
    """Rows in a column-oriented batch."""
    return len(columns[0]) if columns else 0


def take_rows(columns: Columns, start: int, stop: int) -> Columns:
    """Rows [start, stop) of a column-oriented batch."""
    return [c[start:stop] for c in columns]


def rows_of(table: Table, columns: Columns) -> list[dict[str, Any]]:
    """A batch as one dict per row (for dead letters and debugging); O(rows x columns)."""
    names = table.names
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
