"""The bench's hash-cost harness runs on updates whose venue hashes all verify."""

from __future__ import annotations

from polymon.bench.hashcost import _run, _updates, hash_cost_line


def test_every_generated_update_verifies_and_the_line_names_the_cost() -> None:
    bids, asks, updates = _updates(levels=20, messages=300)
    assert len(bids) == len(asks) == 20
    _run("observe", bids, asks, updates)  # raises unless every hash verified
    line = hash_cost_line(5)
    assert "us CPU per message" in line
    assert "5-level book" in line
