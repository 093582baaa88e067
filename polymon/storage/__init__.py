"""ClickHouse storage: schema, batched writers, journal and queries."""
