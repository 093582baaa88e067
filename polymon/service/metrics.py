"""What `/metrics` and `/do/metrics` report, read from the live Service when asked.

Nothing here runs on the hot path: the shards, writers and webhook queue keep plain integer
counters (and each shard's Ingest a LatencyRing), and `ServiceCollector.collect()` turns them
into Prometheus metric families at scrape time. A scrape costs O(shards) for the book and gap
gauges (read from the census, `service.census`) plus O(window log window) per shard for the
latency percentiles.

Names carry the `polymon_` prefix and their unit (`_seconds`, `_bytes`, `_total`); label values
come only from fixed sets (shard index, table, book status, connection state, reason, trigger
type), so the number of series does not grow with traffic.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from polymon.core.latency import LatencySummary, summarize
from polymon.core.model import BookStatus
from polymon.polymarket.feed import ConnState

if TYPE_CHECKING:
    from polymon.service.main import Service
    from polymon.service.shards import Shard
    from polymon.storage.table_writer import Writer

Rows = Iterable[tuple[Sequence[str], float]]
LATENCY = "polymon_processing_latency_seconds"
_QUANTILES = (("0.5", "p50_ns"), ("0.95", "p95_ns"), ("0.99", "p99_ns"))
# ShardState counters with a metric of their own; every other one is a book event.
_GAP_COUNTS = ("gaps_opened", "gaps_resolved")
_RECIPE_LABELS = ("v1", "v2", "v3", "detecting")

_SHARD_COUNTERS: tuple[tuple[str, str, Callable[[Shard], float]], ...] = (
    ("polymon_ingest_frames_total", "WebSocket frames received (keepalives included).",
     lambda s: s.ingest.frames),
    ("polymon_ingest_keepalives_total", "Keepalive frames (PONG, NO NEW ASSETS).",
     lambda s: s.ingest.keepalives),
    ("polymon_ingest_messages_total", "Venue messages decoded from data frames.",
     lambda s: s.ingest.messages),
    ("polymon_ingest_level_updates_total", "Order book level changes applied.",
     lambda s: s.state.level_updates),
    ("polymon_feed_connects_total", "WebSocket sessions established.",
     lambda s: sum(c.connects for c in s.connections)),
    ("polymon_feed_disconnects_total",
     "WebSocket sessions that ended or failed to open (each is followed by a reconnect).",
     lambda s: sum(c.failures for c in s.connections)),
    ("polymon_integrity_gaps_opened_total", "Suspected gaps opened.",
     lambda s: s.state.counts["gaps_opened"]),
    ("polymon_integrity_gaps_resolved_total", "Gaps closed by a snapshot or an unsubscribe.",
     lambda s: s.state.counts["gaps_resolved"]),
    ("polymon_resync_requested_total", "Assets handed to the REST resync scheduler.",
     lambda s: s.sinks.resync.sent),
    ("polymon_resync_refused_total",
     "Resync requests the saturated scheduler refused (asked again later).",
     lambda s: s.sinks.resync.dropped),
    ("polymon_triggers_fired_total", "Trigger events fired while applying frames.",
     lambda s: s.ingest.fired),
    ("polymon_triggers_suppressed_total", "Trigger fires dropped by a cooldown.",
     lambda s: s.state.triggers.suppressed),
)  # fmt: skip

_WEBHOOK_COUNTERS = (
    ("polymon_webhook_delivered_total", "Webhook deliveries answered with 2xx.", "delivered"),
    ("polymon_webhook_attempts_failed_total", "Webhook attempts that failed.", "failed"),
    ("polymon_webhook_retries_total", "Failed attempts rescheduled.", "retried"),
    ("polymon_webhook_dead_lettered_total", "Deliveries given up.", "dead_lettered"),
    ("polymon_webhook_dropped_total", "Deliveries refused: endpoint queue full.", "dropped"),
    ("polymon_webhook_replayed_total", "Dead letters sent again.", "replayed"),
    ("polymon_webhook_journal_errors_total", "Outbox journal writes that failed.",
     "journal_errors"),
)  # fmt: skip

_WRITER_COUNTERS = (
    ("polymon_writer_rows_received_total", "Rows handed to the writer.", "rows_in"),
    ("polymon_writer_rows_written_total", "Rows inserted.", "rows_written"),
    ("polymon_writer_batches_written_total", "Batches inserted.", "batches_written"),
    ("polymon_writer_rows_journaled_total", "Rows spilled to the journal.", "rows_journaled"),
    ("polymon_writer_rows_replayed_total", "Journaled rows inserted later.", "rows_replayed"),
    ("polymon_writer_rows_dead_lettered_total", "Rows ClickHouse rejected.",
     "rows_dead_lettered"),
    ("polymon_writer_rows_dropped_total", "Rows lost (journal full or unwritable).",
     "rows_dropped"),
    ("polymon_writer_retries_total", "Insert attempts retried.", "retries"),
    ("polymon_writer_outages_total", "Times ClickHouse became unavailable.", "outages"),
)  # fmt: skip

_JOURNAL_COUNTERS = (
    ("polymon_journal_torn_records_total",
     "Incomplete records cut off a journal's end at start (a crash mid-write).", "torn_records"),
    ("polymon_journal_corrupt_records_total",
     "Damaged journal records skipped (each one record lost, recorded as a gap row).",
     "corrupt_records"),
    ("polymon_journal_lost_rows_total", "Rows in damaged journal records.", "lost_rows"),
    ("polymon_journal_write_failures_total",
     "Journal writes the disk refused (each truncated back to the record's start).",
     "write_failures"),
    ("polymon_journal_sync_failures_total", "Journal fsyncs that failed.", "sync_failures"),
)  # fmt: skip

_WRITER_GAUGES: tuple[tuple[str, str, Callable[[Writer], float]], ...] = (
    ("polymon_writer_pending_rows", "Rows in memory waiting for an insert.",
     lambda w: w.backlog_rows),
    ("polymon_writer_journal_batches", "Batches waiting in the journal.",
     lambda w: w.journal.pending),
    ("polymon_writer_journal_bytes", "Size of the batches waiting in the journal.",
     lambda w: w.journal.pending_bytes),
    ("polymon_writer_outage", "1 while the writer cannot reach ClickHouse.",
     lambda w: float(w.outage)),
    ("polymon_writer_held_rows",
     "Rows waiting in memory because the journal refused them (disk full).",
     lambda w: w.backlog.held_rows),
)  # fmt: skip


def _counter(name: str, doc: str, labels: Sequence[str], rows: Rows) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for values, value in rows:
        family.add_metric(values, value)
    return family


def _gauge(name: str, doc: str, labels: Sequence[str], rows: Rows) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for values, value in rows:
        family.add_metric(values, value)
    return family


class ServiceCollector(Collector):
    """A Prometheus custom collector over a running Service.

    Register it on a CollectorRegistry; each scrape calls `collect()` in the Trio thread, which
    reads the Service's counters as they are at that moment. Runtime complexity per scrape:
    O(shards * window log window + tables).
    """

    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        """Every polymon metric family, built from the current Service state."""
        shards = self.service.shards
        for name, doc, value in _SHARD_COUNTERS:
            yield _counter(name, doc, ["shard"], [((_sid(s),), value(s)) for s in shards])
        yield _counter(
            "polymon_ingest_invalid_total",
            "Frames or messages skipped as invalid, by reason.",
            ["shard", "reason"],
            [((_sid(s), why), n) for s in shards for why, n in s.ingest.invalid.items()],
        )
        yield from _latency(shards)
        yield from self._books(shards)
        yield from self._alerts(shards)
        yield from self._delivery()

    def _books(self, shards: Sequence[Shard]) -> Iterator[Metric]:
        books: list[tuple[Sequence[str], float]] = []
        conns: list[tuple[Sequence[str], float]] = []
        gaps: list[tuple[Sequence[str], float]] = []
        census = self.service.census.read()  # book and gap counts: no walk over every asset
        for shard, counted in zip(shards, census, strict=True):
            sid = _sid(shard)
            books.extend(((sid, str(status)), counted.books[status]) for status in BookStatus)
            conn_states = Counter(c.state for c in shard.connections)
            conns.extend(((sid, str(cs)), conn_states[cs]) for cs in ConnState)
            gaps.extend(((sid, reason), n) for reason, n in sorted(counted.gaps_open.items()))
        yield _gauge("polymon_books", "Tracked order books by served status.",
                     ["shard", "status"], books)  # fmt: skip
        yield _gauge("polymon_feed_connections", "Market WebSocket connections by state.",
                     ["shard", "state"], conns)  # fmt: skip
        yield _gauge("polymon_integrity_gaps_open", "Gaps not yet resolved, by reason.",
                     ["shard", "reason"], gaps)  # fmt: skip
        recipes = [(_sid(s), s.state.hashes.status()) for s in shards]
        yield _gauge(
            "polymon_hash_recipe",
            "1 for the venue hash recipe each shard verifies with (detecting: none locked yet).",
            ["shard", "recipe"],
            [((sid, recipe), float(status.recipe == (recipe if recipe != "detecting" else "")))
             for sid, status in recipes for recipe in _RECIPE_LABELS],
        )  # fmt: skip
        slack = [((sid,), float(status.timestamp_slack_ms)) for sid, status in recipes]
        yield _gauge("polymon_hash_timestamp_slack_ms",
                     "Earlier timestamps accepted for a venue hash (detected or configured).",
                     ["shard"], slack)  # fmt: skip
        yield _counter(
            "polymon_book_events_total",
            "The core's book and integrity counters by event (hash_ok, hash_mismatch,"
            " bbo_mismatch, crossed, resync_replayed, skipped_untracked, ...).",
            ["shard", "event"],
            [((_sid(s), event), n) for s in shards for event, n in s.state.counts.items()
             if event not in _GAP_COUNTS],
        )  # fmt: skip
        lifecycle = sorted(self.service.lifecycle_events.items())
        yield _counter("polymon_lifecycle_events_total", "Market lifecycle events received.",
                       ["type"], [((kind,), n) for kind, n in lifecycle])  # fmt: skip
        resyncer = self.service.resyncer
        yield _counter("polymon_resync_calls_total", "REST POST /books calls made.",
                       [], [((), resyncer.calls)])  # fmt: skip
        yield _counter("polymon_resync_books_total", "Books asked for by REST resync, by result.",
                       ["result"], [(("fetched",), resyncer.fetched),
                                    (("failed",), resyncer.failed)])  # fmt: skip

    def _alerts(self, shards: Sequence[Shard]) -> Iterator[Metric]:
        yield _gauge("polymon_triggers", "Registered alert triggers.",
                     ["shard"], [((_sid(s),), len(s.state.triggers)) for s in shards])  # fmt: skip
        fired = sorted(self.service.alerts.fired.items())
        yield _counter("polymon_alerts_fired_total",
                       "Alert events delivered to SSE and webhooks, by trigger type.",
                       ["type"], [((kind,), n) for kind, n in fired])  # fmt: skip
        status = self.service.events.status()
        yield _counter("polymon_alerts_published_total", "Events published to the SSE buffer.",
                       [], [((), status["published"])])  # fmt: skip
        yield _gauge("polymon_alerts_buffered", "Events held for replay (Last-Event-ID).",
                     [], [((), status["buffered"])])  # fmt: skip
        yield _gauge("polymon_sse_subscribers", "Live SSE streams.",
                     [], [((), status["subscribers"])])  # fmt: skip
        yield _counter("polymon_sse_subscribers_dropped_total",
                       "SSE streams ended for falling behind.",
                       [], [((), status["dropped_subscribers"])])  # fmt: skip

    def _delivery(self) -> Iterator[Metric]:
        hooks = self.service.webhooks
        for name, doc, field in _WEBHOOK_COUNTERS:
            yield _counter(name, doc, [], [((), getattr(hooks.counters, field))])
        yield _gauge("polymon_webhook_pending", "Webhook deliveries not yet done.",
                     [], [((), len(hooks.pending()))])  # fmt: skip
        yield _gauge("polymon_webhook_dead_letters", "Webhook dead letters kept for replay.",
                     [], [((), len(hooks.dead_letters()))])  # fmt: skip
        outputs = [(_sid(s), output, counts) for s in self.service.shards
                   for output, counts in s.sinks.counts().items()]  # fmt: skip
        yield _counter("polymon_shard_rows_sent_total",
                       "Rows a shard handed to its writer channel.", ["shard", "output"],
                       [((sid, out), c["sent"]) for sid, out, c in outputs])  # fmt: skip
        yield _counter("polymon_shard_rows_dropped_total",
                       "Rows a shard could not hand over (channel full).", ["shard", "output"],
                       [((sid, out), c["dropped"]) for sid, out, c in outputs])  # fmt: skip
        writers = self.service.writers
        if writers is None:
            return
        tables = sorted(writers.writers.items())
        for name, doc, field in _WRITER_COUNTERS:
            rows = [((table,), getattr(w.stats, field)) for table, w in tables]
            yield _counter(name, doc, ["table"], rows)
        for name, doc, field in _JOURNAL_COUNTERS:
            rows = [((table,), getattr(w.journal.counters, field)) for table, w in tables]
            yield _counter(name, doc, ["table"], rows)
        for name, doc, value in _WRITER_GAUGES:
            yield _gauge(name, doc, ["table"], [((table,), value(w)) for table, w in tables])
        yield _counter("polymon_writer_losses_unrecorded_total",
                       "Losses that could not be queued as gap rows (logged instead).",
                       [], [((), writers.losses_unrecorded)])  # fmt: skip
        yield _counter("polymon_writer_dead_letters_dropped_total",
                       "Rejected rows lost because the dead-letter channel was full.",
                       [], [((), writers.dead_letters_dropped)])  # fmt: skip


def _latency(shards: Sequence[Shard]) -> Iterator[Metric]:
    summary_family = SummaryMetricFamily(
        LATENCY,
        "Time from a data frame's receipt to the end of applying it (books, BBO, triggers);"
        " quantiles over each shard's newest frames.",
        labels=["shard"],
    )
    peak = GaugeMetricFamily(
        "polymon_processing_latency_max_seconds",
        "The longest processing time among each shard's newest frames.",
        labels=["shard"],
    )
    for shard in shards:
        ring, sid = shard.ingest.latency, _sid(shard)
        summary = ring.summary()
        for quantile, field in _QUANTILES:
            value = math.nan if summary is None else getattr(summary, field) / 1e9
            summary_family.add_sample(LATENCY, {"shard": sid, "quantile": quantile}, value)
        summary_family.add_metric([sid], ring.count, ring.total_ns / 1e9)
        peak.add_metric([sid], math.nan if summary is None else summary.max_ns / 1e9)
    yield summary_family
    yield peak


def shard_metrics(service: Service) -> dict[str, object]:
    """The `/do/metrics` body: processing latency percentiles (µs, over each shard's newest
    frames; None before the first frame) and trigger counts, per shard and for all shards.

    Runtime complexity: O(shards * window log window).
    """
    rows: list[dict[str, object]] = []
    every: list[int] = []
    for shard in service.shards:
        window = shard.ingest.latency.window()
        every.extend(window)
        rows.append(
            {"shard": shard.index, "frames": shard.ingest.frames, "samples": len(window),
             **_micros(summarize(window)), "triggers": len(shard.state.triggers),
             "fired": shard.ingest.fired}
        )  # fmt: skip
    totals = {
        "frames": sum(s.ingest.frames for s in service.shards),
        "samples": len(every),
        **_micros(summarize(every)),
        "triggers": sum(len(s.state.triggers) for s in service.shards),
        "fired": sum(s.ingest.fired for s in service.shards),
    }
    return {"shards": rows, "totals": totals}


def _micros(summary: LatencySummary | None) -> dict[str, float | None]:
    names = ("p50", "p95", "p99", "max")
    if summary is None:
        return {f"{n}_us": None for n in names}
    return {f"{n}_us": round(getattr(summary, f"{n}_ns") / 1000, 1) for n in names}


def _sid(shard: Shard) -> str:
    return str(shard.index)
