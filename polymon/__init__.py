"""polymon: live Polymarket L2 books, alerts and ClickHouse history in one Trio process."""

__version__ = "0.1.0"
