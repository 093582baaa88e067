"""Venue records turned into storage rows and resolutions (the one place that knows both
vocabularies): the strict resolution rules for Gamma and the CLOB, and market_metadata rows."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Final

from polymon.polymarket.gamma import GammaMarket
from polymon.polymarket.rest import ClobMarket
from polymon.storage.rows import MetadataRow

Winner = tuple[str, str]
"""(outcome name, token id) of a market's winning outcome."""

# Nautilus's strict rule (protocol doc §4.3): one price at 1, every other at 0, give or take.
_WON: Final = Decimal("0.999")
_LOST: Final = Decimal("0.001")
# UMA states in which `automaticallyResolved` may stand in for an explicit `resolved`.
_AUTO_OK: Final = frozenset({"", "resolved"})


def winner(market: GammaMarket) -> Winner | None:
    """The winner of a Gamma market by the strict rule, else None: closed; UMA resolution
    `resolved` (or `automaticallyResolved` with no other UMA state); as many prices as tokens
    (at least two); exactly one price >= 0.999 and every other <= 0.001.

    A closed market with prices 1/0 whose UMA status is still `proposed` is not resolved, and
    neither are legacy markets priced 0/0 or fractionally.
    """
    status = market.uma_resolution_status.lower()
    final = status == "resolved" or (market.automatically_resolved and status in _AUTO_OK)
    if not market.closed or not final:
        return None
    try:
        prices = [Decimal(p) for p in market.outcome_prices]
    except InvalidOperation:
        return None
    if len(prices) < 2 or len(prices) != len(market.token_ids):
        return None
    won = [i for i, p in enumerate(prices) if p >= _WON]
    if len(won) != 1 or any(p > _LOST for i, p in enumerate(prices) if i != won[0]):
        return None
    i = won[0]
    outcome = market.outcomes[i] if i < len(market.outcomes) else ""
    return outcome, market.token_ids[i]


def clob_winner(market: ClobMarket) -> Winner | None:
    """The winner of a CLOB market, else None: closed and exactly one `tokens[].winner`."""
    if not market.closed:
        return None
    won = [t for t in market.tokens if t.winner]
    if len(won) != 1 or not won[0].token_id:
        return None
    return won[0].outcome, won[0].token_id


def metadata_row(
    market: GammaMarket,
    now_us: int,
    *,
    won: Winner | None = None,
    resolved_at_us: int | None = None,
) -> MetadataRow:
    """A market_metadata row (column order of storage.rows.METADATA) for one Gamma market.

    The outcome is `won` when given (a resolution seen on the WS or the CLOB before Gamma
    shows it), else Gamma's by the strict rule. The resolution time is `resolved_at_us` when
    given, else Gamma's closed time (or last update, or now).
    """
    if won is None:
        won = winner(market)
    resolved_at = None
    if won is not None:
        resolved_at = resolved_at_us
        if resolved_at is None:
            resolved_at = (market.closed_time or market.updated_at or now_us // 1000) * 1000
    return (
        market.condition_id, market.id, market.question, market.slug, market.description,
        market.outcomes, market.token_ids, market.outcome_prices, market.tick_size,
        market.min_order_size, market.neg_risk, market.active, market.closed, market.archived,
        market.accepting_orders, market.end_date, market.closed_time,
        market.uma_resolution_status, won[0] if won else "", won[1] if won else "",
        resolved_at, market.volume, market.raw, now_us,
    )  # fmt: skip
