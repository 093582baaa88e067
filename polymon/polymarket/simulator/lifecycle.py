"""Wire shapes of a simulated market's life cycle: created, closed, resolved.

The shapes follow the venue (protocol doc §2.4, §3, §4.3 and the fixtures under
`shared/fixtures/polymarket/nautilus_trader/crates_test_data/`): the WS `new_market` and
`market_resolved` events, a closed Gamma market (`closed`, outcomePrices 1/0,
`umaResolutionStatus`, Postgres-style `closedTime`) and the CLOB `GET /markets/{condition_id}`
body whose `tokens[].winner` names the winner.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from polymon.polymarket.simulator.book import TICK_TEXT

if TYPE_CHECKING:
    from polymon.polymarket.simulator.market import SimMarket

Message = dict[str, Any]
OUTCOMES = ("Yes", "No")


def postgres_time(ms: int) -> str:
    """Gamma's `closedTime` format for epoch ms: `2026-09-09 14:25:04+00`."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S+00")


def iso_time(ms: int) -> str:
    """ISO-8601 UTC with milliseconds, as Gamma's `updatedAt`."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def new_market_message(market: SimMarket, now_ms: int) -> Message:
    """The WS `new_market` event announcing `market` (custom_feature_enabled)."""
    tokens = [market.yes_id, market.no_id]
    return {
        "event_type": "new_market",
        "id": market.gamma_id,
        "question": market.question,
        "market": market.condition_id,
        "slug": market.slug,
        "description": market.description,
        "assets_ids": tokens,
        "outcomes": list(OUTCOMES),
        "event_message": {
            "id": str(900_000 + market.index),
            "ticker": market.slug,
            "slug": market.slug,
            "title": market.question,
            "description": market.description,
        },
        "timestamp": str(now_ms),
        "tags": [],
        "condition_id": market.condition_id,
        "active": True,
        "clob_token_ids": tokens,
        "sports_market_type": "",
        "line": "",
        "game_start_time": "",
        "order_price_min_tick_size": TICK_TEXT[market.book.tick],
        "group_item_title": "",
    }


def winner_index(market: SimMarket) -> int:
    """0 when YES won, 1 when NO won (the market must be resolved)."""
    return 0 if market.yes_won else 1


def resolved_message(market: SimMarket, now_ms: int) -> Message:
    """The WS `market_resolved` event of a resolved market."""
    won = winner_index(market)
    return {
        "event_type": "market_resolved",
        "id": market.gamma_id,
        "market": market.condition_id,
        "assets_ids": [market.yes_id, market.no_id],
        "winning_asset_id": market.token_ids()[won],
        "winning_outcome": OUTCOMES[won],
        "timestamp": str(now_ms),
        "tags": [],
    }


def close_gamma_market(gamma: Message, market: SimMarket) -> None:
    """Turn an open Gamma market dict into its closed, resolved form (in place)."""
    assert market.closed_ms is not None
    won = winner_index(market)
    gamma |= {
        "closed": True,
        "acceptingOrders": False,
        "outcomePrices": json.dumps(["1" if i == won else "0" for i in range(2)]),
        "umaResolutionStatuses": json.dumps(["proposed"]),
        "closedTime": postgres_time(market.closed_ms),
        "updatedAt": iso_time(market.closed_ms),
    }
    if market.uma_status:  # Gamma often leaves it out
        gamma["umaResolutionStatus"] = market.uma_status
    # Gamma leaves null fields out: a resolved market has no book any more.
    gamma.pop("bestBid", None)
    gamma.pop("bestAsk", None)


def settled(market: SimMarket) -> bool:
    """Whether the CLOB marks the winner: resolved, and not merely proposed on UMA."""
    return market.closed_ms is not None and market.uma_status != "proposed"


def clob_market(market: SimMarket, yes_price: str) -> Message:
    """The CLOB `GET /markets/{condition_id}` body (numbers where the CLOB sends numbers); the
    winning token is marked once the resolution is settled (see `settled`)."""
    closed = market.closed_ms is not None
    if closed:
        won = winner_index(market)
        prices = [1.0 if i == won else 0.0 for i in range(2)]
    else:
        prices = [float(yes_price), round(1.0 - float(yes_price), 6)]
    return {
        "enable_order_book": True,
        "active": True,
        "closed": closed,
        "archived": False,
        "accepting_orders": not closed,
        "minimum_order_size": 5,
        "minimum_tick_size": float(TICK_TEXT[market.book.tick]),
        "condition_id": market.condition_id,
        "question_id": market.question_id,
        "question": market.question,
        "description": market.description,
        "market_slug": market.slug,
        "end_date_iso": market.end_date,
        "game_start_time": None,
        "neg_risk": False,
        "tags": [],
        "tokens": [
            {
                "token_id": token,
                "outcome": OUTCOMES[i],
                "price": prices[i],
                "winner": settled(market) and i == winner_index(market),
            }
            for i, token in enumerate(market.token_ids())
        ],
    }
