"""Market metadata reads: list, search and look-up by token, from market_metadata FINAL (the
newest Gamma version of each market). Results are `polymon.core.history` Structs."""

from __future__ import annotations

from typing import Any, Final

from polymon.core.history import MarketInfo, MarketPage
from polymon.errors import BadRequest
from polymon.storage.sql import check_limit
from polymon.storage.store import Store

MAX_MARKETS: Final = 1000
"""Largest page of a market listing or search."""
MAX_QUERY_CHARS: Final = 200

_COLUMNS: Final = (
    "condition_id, market_id, question, slug, outcomes, token_ids, outcome_prices, tick_size,"
    " min_order_size, neg_risk, active, closed, accepting_orders,"
    " toUnixTimestamp64Milli(end_date), toUnixTimestamp64Milli(closed_time),"
    " uma_resolution_status, winning_outcome, winning_asset_id,"
    " toUnixTimestamp64Micro(resolved_at), volume, toUnixTimestamp64Micro(updated_at)"
)
# Most traded first: volume is Gamma's decimal string, so it is compared as a number.
_ORDER: Final = "toFloat64OrZero(volume) DESC, condition_id"


def _market(row: tuple[Any, ...]) -> MarketInfo:
    (cid, mid, question, slug, outcomes, tokens, prices, tick, min_size, neg_risk, active,
     closed, accepting, end_ms, closed_ms, uma, win_outcome, win_asset, resolved_us, volume,
     updated_us) = row  # fmt: skip
    return MarketInfo(
        condition_id=cid, market_id=mid, question=question, slug=slug, outcomes=list(outcomes),
        token_ids=list(tokens), outcome_prices=list(prices), tick_size=tick,
        min_order_size=min_size, neg_risk=bool(neg_risk), active=bool(active),
        closed=bool(closed), accepting_orders=bool(accepting),
        end_date_ms=None if end_ms is None else int(end_ms),
        closed_time_ms=None if closed_ms is None else int(closed_ms),
        uma_resolution_status=uma, winning_outcome=win_outcome, winning_asset_id=win_asset,
        resolved_at_us=None if resolved_us is None else int(resolved_us), volume=volume,
        updated_at_us=int(updated_us),
    )  # fmt: skip


def _check_offset(offset: int) -> int:
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= 10**7:
        raise BadRequest(f"offset must be an integer in 0..10000000, got {offset!r}")
    return offset


async def list_markets(
    store: Store,
    *,
    limit: int = 100,
    offset: int = 0,
    active: bool | None = None,
    closed: bool | None = None,
) -> MarketPage:
    """A page of markets, most traded first, filtered by `active` / `closed` when given.

    Two queries (page and count). Raises BadRequest naming limit (1..MAX_MARKETS) or offset.
    """
    check_limit(limit, MAX_MARKETS)
    _check_offset(offset)
    where, params = ["1"], {"limit": limit, "offset": offset}
    if active is not None:
        where.append("active = {active:Bool}")
        params["active"] = active
    if closed is not None:
        where.append("closed = {closed:Bool}")
        params["closed"] = closed
    cond = " AND ".join(where)
    db = store.database
    rows = await store.query(
        f"SELECT {_COLUMNS} FROM {db}.market_metadata FINAL WHERE {cond}"
        f" ORDER BY {_ORDER} LIMIT {{limit:UInt64}} OFFSET {{offset:UInt64}}",
        params,
    )
    (total,), *_ = await store.query(
        f"SELECT count() FROM {db}.market_metadata FINAL WHERE {cond}", params
    )
    items = [_market(r) for r in rows]
    more = offset + len(items) < int(total) and len(items) == limit
    return MarketPage(
        items=items, total=int(total), limit=limit, offset=offset,
        next_offset=offset + limit if more else None,
    )  # fmt: skip


async def search_markets(store: Store, q: str, *, limit: int = 20) -> list[MarketInfo]:
    """Markets whose question or slug contains `q` (case-insensitive), most traded first.

    Raises BadRequest for an empty or over-long `q` or a limit outside 1..MAX_MARKETS.
    """
    q = q.strip()
    if not q or len(q) > MAX_QUERY_CHARS:
        raise BadRequest(f"q must be 1-{MAX_QUERY_CHARS} characters")
    check_limit(limit, MAX_MARKETS)
    rows = await store.query(
        f"SELECT {_COLUMNS} FROM {store.database}.market_metadata FINAL"
        " WHERE positionCaseInsensitiveUTF8(question, {q:String}) > 0"
        " OR positionCaseInsensitiveUTF8(slug, {q:String}) > 0"
        f" ORDER BY {_ORDER} LIMIT {{limit:UInt64}}",
        {"q": q, "limit": limit},
    )
    return [_market(r) for r in rows]


async def market_of_asset(store: Store, asset_id: str) -> MarketInfo | None:
    """The market one of whose tokens is `asset_id`, or None when no metadata names it."""
    rows = await store.query(
        f"SELECT {_COLUMNS} FROM {store.database}.market_metadata FINAL"
        " WHERE has(token_ids, {asset:String}) ORDER BY updated_at DESC LIMIT 1",
        {"asset": asset_id},
    )
    return _market(rows[0]) if rows else None
