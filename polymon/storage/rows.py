"""What each writable table takes: its columns, and the conversion of core rows to columns.

The column lists mirror `schema/*.sql` (a test compares them with the live tables). Prices
and sizes travel as integer 1e-6 units, written straight into the Decimal(18, 6) columns
(`UNITS`); timestamps as integer microseconds into DateTime64(6). Conversions are
column-oriented: one pass per column over a batch, no per-row objects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from polymon.core.asset import BboRow, LevelRow, SnapshotRow, TradeRow
from polymon.core.model import GapEvent
from polymon.errors import StorageRejected

UNITS = "Units"
"""Column type marker: Decimal(18, 6) written from integer units of 1e-6."""

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
_DECIMALS = "Array(Decimal(18, 6))"
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


_SIZE_CACHE_LIMIT = 100_000
_size_cache: dict[str, int] = {}


def size_units(text: str) -> int:
    """A venue size string ("12.5", "0", "1e3") as integer 1e-6 units; "" (no level) is 0.

    O(1) for a size seen before (bounded cache: top-of-book sizes repeat), else O(len(text)).
    Raises StorageRejected for text that is not a non-negative decimal.
    """
    units = _size_cache.get(text)
    if units is None:
        units = _parse_size_units(text)
        if len(_size_cache) < _SIZE_CACHE_LIMIT:
            _size_cache[text] = units
    return units


def float_units(size: float) -> int:
    """A size the core already parsed, as 1e-6 units: exact for sizes with at most six
    decimals below 9e9 (round-tripping through float loses nothing there); O(1)."""
    return round(size * 1_000_000)


def _parse_size_units(text: str) -> int:
    whole, _, frac = text.partition(".")
    if whole.isdigit() and len(frac) <= 6 and (not frac or frac.isdigit()):
        return int(whole) * 1_000_000 + (int(frac.ljust(6, "0")) if frac else 0)
    if not text:
        return 0
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise StorageRejected(f"size {text[:40]!r} is not a decimal") from None
    if not value.is_finite() or value < 0:
        raise StorageRejected(f"size {text[:40]!r} is not a non-negative number")
    return round(value * 1_000_000)


def _flatten(items: Sequence[Item]) -> tuple[list[Any], list[int]]:
    rows: list[Any] = []
    shards: list[int] = []
    for shard, batch in items:
        rows.extend(batch)
        shards.extend([shard] * len(batch))
    return rows, shards


def _ms_to_us(values: Sequence[int]) -> list[int]:
    return [v * 1000 for v in values]


def bbo_columns(items: Sequence[Item], run_id: str) -> Columns:
    """ob_bbo columns from shard batches of BboRow."""
    rows, shards = _flatten(items)
    rows_t: list[BboRow] = rows
    aid, market, ts, recv, bid, bid_sz, ask, ask_sz, seq = (
        list(c) for c in zip(*rows_t, strict=True)
    )
    return [
        aid, market, _ms_to_us(ts), recv, bid, [size_units(s) for s in bid_sz], ask,
        [size_units(s) for s in ask_sz], [run_id] * len(rows), shards, seq,
    ]  # fmt: skip


def level_columns(items: Sequence[Item], run_id: str) -> Columns:
    """ob_level_changes columns from shard batches of LevelRow."""
    rows, shards = _flatten(items)
    rows_t: list[LevelRow] = rows
    aid, market, ts, recv, side, price, _size_text, size, prev, seq = (
        list(c) for c in zip(*rows_t, strict=True)
    )
    return [
        aid, market, _ms_to_us(ts), recv, [_SIDE_NAMES[s] for s in side], price,
        [float_units(s) for s in size], [float_units(p) for p in prev],
        [run_id] * len(rows), shards, seq,
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
        [size_units(s) for s in size_text],
        [_fee(f) for f in fee], tx, [run_id] * len(rows), shards, seq,
    ]  # fmt: skip


def snapshot_columns(items: Sequence[Item], run_id: str) -> Columns:
    """ob_snapshots columns from batches of SnapshotRow (prices and sizes as exact strings)."""
    rows, _shards = _flatten(items)
    rows_t: list[SnapshotRow] = rows
    columns: Columns = [list(c) for c in zip(*rows_t, strict=True)]
    columns[2] = _ms_to_us(columns[2])
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
