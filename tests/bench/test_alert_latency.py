"""The alert latency work: the bench's thresholds and result line, and the runtime tuning.

Correctness only; how fast anything is lives in `polymon bench`.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest

from polymon.bench.alerts import Window, _thresholds, summary_line
from polymon.polymarket.schemas import Level, RestBook
from polymon.runtime import tune_runtime
from tests.storage.helpers import ASSET


@pytest.fixture
def restore_runtime() -> Iterator[None]:
    interval = sys.getswitchinterval()
    yield
    gc.unfreeze()
    sys.setswitchinterval(interval)


@pytest.mark.usefixtures("restore_runtime")
def test_tune_runtime_freezes_the_heap_and_shortens_the_switch_interval() -> None:
    tune_runtime(switch_interval_secs=0.002)
    assert gc.get_freeze_count() > 0
    assert sys.getswitchinterval() == pytest.approx(0.002)
    tune_runtime(switch_interval_secs=0.002)  # idempotent
    assert sys.getswitchinterval() == pytest.approx(0.002)


def _book(bids: list[str], asks: list[str], tick: str = "0.01") -> RestBook:
    return RestBook(asset_id=ASSET, bids=[Level(p, "10") for p in bids],
                    asks=[Level(p, "10") for p in asks], tick_size=tick)  # fmt: skip


def test_thresholds_sit_a_quarter_tick_off_the_ten_ticks_around_the_mid() -> None:
    assert _thresholds(_book(["0.40", "0.49"], ["0.53", "0.51"]), "0.01") == [
        452_500,
        462_500,
        472_500,
        482_500,
        492_500,
        502_500,
        512_500,
        522_500,
        532_500,
        542_500,
    ]
    fine = _thresholds(_book(["0.5"], ["0.502"], tick=""), "0.001")
    assert fine == [496_250 + 1000 * k for k in range(10)]


def test_thresholds_stay_inside_the_valid_price_range() -> None:
    assert min(_thresholds(_book(["0.001"], ["0.002"]), "0.01")) == 1_000
    assert max(_thresholds(_book(["0.998"], ["0.999"]), "0.01")) == 999_000
    assert len(_thresholds(_book([], [], tick=""), "bad")) == 10


def test_the_summary_line_reports_percentiles_and_the_share_inside_polymon() -> None:
    events = [(1_000, 1_000 + 100, 1_000 + 500 + 10 * i) for i in range(100)]
    line = summary_line("alerts", Window(events, frames=5000, seconds=1.0, reconnects=0,
                                         cpu_share=0.5))  # fmt: skip
    assert "5,000 frames/s in, 100 events: p50 1.00 ms  p99 1.49 ms  max 1.49 ms" in line
    assert "receipt -> published p99 0.10 ms" in line
    assert summary_line("alerts", Window([], 0, 1.0, 0, 0.0)).endswith("no events")
