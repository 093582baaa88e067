"""Venue records turned into storage rows (the one place that knows both vocabularies)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from polymon.polymarket.gamma import GammaMarket
from polymon.storage.rows import MetadataRow


def winner(market: GammaMarket) -> tuple[str, str] | None:
    """(outcome, token id) of a resolved market, by the strict rule: closed, UMA resolution
    `resolved`, and exactly one outcome priced 1 with every other priced 0; else None."""
    if not market.closed or market.uma_resolution_status.lower() != "resolved":
        return None
    try:
        prices = [Decimal(p) for p in market.outcome_prices]
    except InvalidOperation:
        return None
    ones = [i for i, p in enumerate(prices) if p == 1]
    if len(ones) != 1 or any(p != 0 for i, p in enumerate(prices) if i != ones[0]):
        return None
    i = ones[0]
    outcome = market.outcomes[i] if i < len(market.outcomes) else ""
    token = market.token_ids[i] if i < len(market.token_ids) else ""
    return outcome, token


def metadata_row(market: GammaMarket, now_us: int) -> MetadataRow:
    """A market_metadata row (column order of storage.rows.METADATA) for one Gamma market."""
    won = winner(market)
    resolved_at = None
    if won is not None:
        resolved_at = (market.closed_time or market.updated_at or now_us // 1000) * 1000
    return (
        market.condition_id, market.id, market.question, market.slug, market.description,
        market.outcomes, market.token_ids, market.outcome_prices, market.tick_size,
        market.min_order_size, market.neg_risk, market.active, market.closed, market.archived,
        market.accepting_orders, market.end_date, market.closed_time,
        market.uma_resolution_status, won[0] if won else "", won[1] if won else "",
        resolved_at, market.volume, market.raw, now_us,
    )  # fmt: skip
