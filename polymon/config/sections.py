"""The configuration sections: frozen msgspec Structs, one per TOML section, units in the
field names, unknown keys and non-finite numbers rejected (loading: `config.loading`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from polymon.core.redact import redact_url

__all__ = [
    "CheckMode",
    "Config",
    "HashRecipe",
    "HttpConfig",
    "HttpUrl",
    "IntegrityConfig",
    "LifecycleConfig",
    "LogConfig",
    "LogLevel",
    "NonNegFloat",
    "NonNegInt",
    "PolymarketConfig",
    "Port",
    "PositiveFloat",
    "PositiveInt",
    "Probability",
    "RecordConfig",
    "Section",
    "ServiceConfig",
    "SimulatorConfig",
    "StorageConfig",
    "StorageUrl",
    "Tier",
    "WebhooksConfig",
    "WsUrl",
]

PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
NonNegInt = Annotated[int, msgspec.Meta(ge=0)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
NonNegFloat = Annotated[float, msgspec.Meta(ge=0)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
Probability = Annotated[float, msgspec.Meta(ge=0, le=1)]

WsUrl = Annotated[str, msgspec.Meta(pattern=r"^wss?://[^\s/?#]+\S*$")]
HttpUrl = Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s/?#]+\S*$")]
StorageUrl = Annotated[str, msgspec.Meta(pattern=r"^$|^chdb:///\S*$|^https?://[^\s/?#]+\S*$")]

CheckMode = Literal["off", "observe", "resync"]
HashRecipe = Literal["auto", "v1", "v2", "v3"]
LogLevel = Literal["debug", "info", "warning", "error"]


class Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every config section: immutable, keyword-only, unknown keys rejected, and no
    float that is not finite (an `inf` or `nan` duration, rate or ratio), in lists too."""

    def __post_init__(self) -> None:
        for field in msgspec.structs.fields(self):
            value = getattr(self, field.name)
            values = value if isinstance(value, list) else [value]
            if any(isinstance(v, float) and not math.isfinite(v) for v in values):
                raise ValueError(f"`{field.name}` must be a finite number, got {value!r}")


class ServiceConfig(Section, frozen=True):
    """Process-wide settings.

    data_dir: local state (API keys, triggers, journal, embedded ClickHouse).
    shutdown_grace_secs: how long writers may flush after SIGTERM before the process exits.
    log_level: the older name of `[log] level`, used when that is not set.
    """

    data_dir: str = "./data"
    shutdown_grace_secs: PositiveFloat = 8.0
    log_level: LogLevel = "info"


class LogConfig(Section, frozen=True):
    """Log lines on stdout (journald collects them under systemd).

    level: debug | info | warning | error; unset means `service.log_level` (info).
    format: `text` (one readable line) or `json` (one object per line: timestamp, level, logger,
      message and fields such as shard, table, asset, trigger_id), for `journalctl -o cat | jq`.
    Known secrets (the storage password, URL credentials, API keys, whsec_ secrets) are masked.
    """

    level: LogLevel | None = None
    format: Literal["text", "json"] = "text"


class PolymarketConfig(Section, frozen=True):
    """The venue: endpoints, subscription layout and connection health.

    max_markets: cap on markets subscribed at bootstrap (0 = every active market).
    shards: number of shard tasks; assets are assigned by a stable hash of the asset id.
    max_assets_per_connection: Polymarket silently drops initial snapshots above ~500.
    connection_open_batch / connection_stagger_secs: new connections open in parallel batches
      of this many, one batch every this long (across all shards), as soon as they are needed.
    """

    ws_url: WsUrl = "wss://ws-subscriptions-clob.polymarket.com/ws/market"
    clob_url: HttpUrl = "https://clob.polymarket.com"
    gamma_url: HttpUrl = "https://gamma-api.polymarket.com"
    max_markets: NonNegInt = 0
    shards: PositiveInt = 8
    max_assets_per_connection: Annotated[int, msgspec.Meta(gt=0, le=500)] = 200
    ping_interval_secs: PositiveFloat = 10.0
    silence_timeout_secs: PositiveFloat = 30.0
    handshake_timeout_secs: PositiveFloat = 10.0
    reconnect_min_secs: PositiveFloat = 1.0
    reconnect_max_secs: PositiveFloat = 30.0
    healthy_after_secs: PositiveFloat = 60.0
    connection_stagger_secs: NonNegFloat = 0.25
    connection_open_batch: PositiveInt = 16
    http_timeout_secs: PositiveFloat = 15.0
    gamma_page_limit: Annotated[int, msgspec.Meta(gt=0, le=100)] = 100
    metadata_refresh_secs: NonNegFloat = 3600.0
    max_frame_bytes: PositiveInt = 16 << 20


class IntegrityConfig(Section, frozen=True):
    """Book integrity checks and REST resync.

    mode: what a best-bid/ask disagreement, a crossed book, a disagreeing `book` checkpoint or a
      silent connection does: `off` (nothing), `observe` (count and record a gap event) or
      `resync` (also fetch the book from REST).
    hash_mode: the same choice for venue hash mismatches; `observe` by default because
      Polymarket has changed its hash recipe without notice.
    hash_recipe: `auto` (each shard locks on the recipe that reproduces the venue's hashes and
      detects again when the venue changes it), or v1 (6 fields, to mid 2025), v2 (9 fields,
      Jul-Nov 2025), v3 (10 fields, current).
    hash_timestamp_slack_ms: also accept hashes made with a timestamp up to this much earlier than
      the message's own (the 2024 server did this). With `auto`, 0 means "detect": 15 ms is
      tried when a hash needs it.
    stale_after_secs: a book with no update for this long is served as `stale`.
    data_silence_secs: a connection that only sees PONGs for this long while others carry data is
      treated as frozen (a known venue fault) and reconnected.
    """

    mode: CheckMode = "resync"
    hash_mode: CheckMode = "observe"
    hash_recipe: HashRecipe = "auto"
    hash_timestamp_slack_ms: NonNegInt = 0
    resync_min_interval_secs: NonNegFloat = 30.0
    resync_budget_per_sec: PositiveFloat = 5.0
    resync_batch_size: Annotated[int, msgspec.Meta(gt=0, le=500)] = 50
    resync_buffer_messages: PositiveInt = 1000
    stale_after_secs: PositiveFloat = 600.0
    data_silence_secs: PositiveFloat = 120.0


class StorageConfig(Section, frozen=True):
    """ClickHouse: `chdb:///abs/dir` (embedded) or `http(s)://host:port/db` (server).

    An empty url means `chdb://<service.data_dir>/clickhouse`. `database` is used when the URL
    names none (always for chdb). Writers flush a batch at `batch_max_rows` rows or when its
    oldest row is `batch_max_age_secs` old; a batch that still fails after `insert_attempts`
    goes to the journal under data_dir (at most `journal_max_bytes`), replayed when ClickHouse
    answers again. Every `snapshot_interval_secs` each book that changed since its last
    snapshot row gets one, and every book gets a keyframe row once per
    `keyframe_interval_secs` (0 = no keyframes); `snapshot_interval_secs` = 0 disables both.
    """

    url: StorageUrl = ""
    user: str = "default"
    password: str = ""
    database: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")] = "polymon"
    compress: bool = True
    enabled: bool = True
    batch_max_rows: PositiveInt = 10_000
    batch_max_age_secs: PositiveFloat = 0.5  # bounds what a kill -9 can take (under 1 s)
    max_pending_rows: PositiveInt = 500_000
    insert_attempts: PositiveInt = 3
    insert_timeout_secs: PositiveFloat = 30.0
    probe_interval_secs: PositiveFloat = 5.0
    journal_max_bytes: PositiveInt = 2 << 30
    journal_fsync_interval_secs: NonNegFloat = 1.0
    snapshot_interval_secs: NonNegFloat = 60.0
    keyframe_interval_secs: NonNegFloat = 3600.0
    channel_batches: PositiveInt = 10_000
    query_timeout_secs: PositiveFloat = 30.0

    def __repr__(self) -> str:
        # Never print the password (configs end up in logs and tracebacks).
        return f"StorageConfig(url={redact_url(self.url)!r}, user={self.user!r}, password='***')"


Tier = Literal["free", "pro", "enterprise"]


class HttpConfig(Section, frozen=True):
    """The HTTP API: listen address, limits, sessions, CORS.

    rate_limit_enabled: per-tier request limits per minute (data and admin classes, as the
      seed's table); off is for load tests and trusted single-user hosts.
    anonymous_tier: the tier of requests without an API key (keyed by client address).
    rate_limit_max_clients: limiter state is bounded to this many keys/addresses (LRU).
    session_ttl_secs: lifetime of the browser session cookie set by POST /api/v1/auth.
    cors_allow_origins: origins allowed by CORS; empty turns CORS off.
    max_body_bytes: larger request bodies get 413.
    body_timeout_secs: a request body not fully received this long after the route starts
      reading it gets 408 (and the connection is closed): a client sending 1 byte a second
      holds a connection no longer than this.
    """

    host: str = "127.0.0.1"
    port: Port = 8787
    rate_limit_enabled: bool = True
    anonymous_tier: Tier = "pro"
    rate_limit_max_clients: PositiveInt = 100_000
    session_ttl_secs: PositiveFloat = 12 * 3600.0
    cors_allow_origins: list[HttpUrl] = msgspec.field(default_factory=list)
    max_body_bytes: PositiveInt = 64 * 1024
    body_timeout_secs: PositiveFloat = 10.0
    query_timeout_secs: PositiveFloat = 30.0


class LifecycleConfig(Section, frozen=True):
    """Market lifecycle and scheduled jobs.

    poll_interval_secs: Gamma poll for new and resolved markets (0 disables).
    new_market_retry_secs / new_market_retry_max: re-check a new market's tokens this often,
      this many times, while the CLOB does not know them yet.
    """

    poll_interval_secs: NonNegFloat = 300.0
    new_market_retry_secs: PositiveFloat = 30.0
    new_market_retry_max: NonNegInt = 20


class WebhooksConfig(Section, frozen=True):
    """Webhook delivery (Standard Webhooks, at least once) and the alert event stream.

    allow_private permits loopback/private receivers (tests, LAN setups); allowed_ports limits
    receiver ports (empty = any). retry_schedule_secs: the delay before each attempt.
    event_buffer_size: alert events kept for SSE replay and GET /api/v1/triggers/events.
    init_*: the production set POST /admin/init-triggers registers: an ARBITRAGE_BUY (YES ask +
      NO ask below) and an ARBITRAGE_SELL (YES bid + NO bid above) on every binary market.
    """

    allow_private: bool = False
    allowed_ports: list[Port] = msgspec.field(default_factory=lambda: [80, 443])
    retry_schedule_secs: Annotated[list[NonNegFloat], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: [0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]
    )
    attempt_timeout_secs: PositiveFloat = 15.0
    max_concurrency: PositiveInt = 32
    max_pending_per_endpoint: PositiveInt = 1000
    init_arbitrage_buy_below: Annotated[float, msgspec.Meta(gt=0, lt=2)] = 0.99
    init_arbitrage_sell_above: Annotated[float, msgspec.Meta(gt=0, lt=2)] = 1.01
    init_cooldown_ms: NonNegInt = 60_000
    event_buffer_size: PositiveInt = 100
    sse_heartbeat_secs: PositiveFloat = 15.0
    sse_client_queue: PositiveInt = 1000


class SimulatorConfig(Section, frozen=True):
    """The built-in simulated exchange (`polymon simulate`, `polymon run --simulate`).

    rate_per_sec: book events per second across all markets.
    drop_every_secs / silent_every_secs: fault knobs, 0 disables.
    wrong_hash_ratio / malformed_ratio: share of frames with a wrong hash or garbage.
    lost_frame_ratio: share of data frames a connection never receives (a real gap).
    new_market_every_secs / resolve_every_secs: create a market (with a `new_market` event) /
      resolve the oldest open one (with `market_resolved`) this often; 0 disables.
    new_market_book_delay_secs: a new market's CLOB book 404s for this long.
    gamma_fail: Gamma answers 500 (to see failed jobs in /cron/health).
    """

    host: str = "127.0.0.1"
    port: Port = 0
    markets: PositiveInt = 20
    seed: int = 1
    rate_per_sec: PositiveFloat = 50.0
    trade_ratio: Probability = 0.05
    tick_change_ratio: Probability = 0.002
    drop_every_secs: NonNegFloat = 0.0
    silent_every_secs: NonNegFloat = 0.0
    silent_for_secs: NonNegFloat = 0.0
    wrong_hash_ratio: Probability = 0.0
    malformed_ratio: Probability = 0.0
    lost_frame_ratio: Probability = 0.0
    new_market_every_secs: NonNegFloat = 0.0
    new_market_book_delay_secs: NonNegFloat = 0.0
    resolve_every_secs: NonNegFloat = 0.0
    gamma_fail: bool = False


class RecordConfig(Section, frozen=True):
    """Recording of the raw market feed, for `polymon replay` and `polymon backtest`.

    enabled: the one switch. Records every frame the market channel delivers (receive time in
      ns, connection, sequence), the subscribe/unsubscribe messages sent, connection open and
      close markers, the tracked tokens, REST resync books and trigger changes, as gzip NDJSON.
    dir: where recordings go ("" = <service.data_dir>/recordings).
    rotate_interval_secs: the current file is closed at each UTC-aligned multiple of this
      (3600 = on the hour), or once it holds `max_file_bytes` (compressed).
    max_age_hours / max_total_bytes: retention of closed files, oldest deleted first (0 = off).
    flush_interval_secs: buffered records are encoded, compressed and written this often.
    compress_level: gzip level (1 fastest, 9 smallest).
    max_pending_records: records held between flushes at most; beyond, records are dropped,
      counted and marked in the file (a `dropped` record), never silently lost.
    """

    enabled: bool = False
    dir: str = ""
    rotate_interval_secs: PositiveFloat = 3600.0
    max_file_bytes: PositiveInt = 256 << 20
    max_age_hours: NonNegFloat = 168.0
    max_total_bytes: NonNegInt = 20 << 30
    flush_interval_secs: PositiveFloat = 1.0
    compress_level: Annotated[int, msgspec.Meta(ge=1, le=9)] = 1
    max_pending_records: PositiveInt = 1_000_000


class Config(Section, frozen=True):
    """The whole configuration, one Struct per TOML section."""

    service: ServiceConfig = msgspec.field(default_factory=ServiceConfig)
    polymarket: PolymarketConfig = msgspec.field(default_factory=PolymarketConfig)
    integrity: IntegrityConfig = msgspec.field(default_factory=IntegrityConfig)
    storage: StorageConfig = msgspec.field(default_factory=StorageConfig)
    http: HttpConfig = msgspec.field(default_factory=HttpConfig)
    webhooks: WebhooksConfig = msgspec.field(default_factory=WebhooksConfig)
    lifecycle: LifecycleConfig = msgspec.field(default_factory=LifecycleConfig)
    simulator: SimulatorConfig = msgspec.field(default_factory=SimulatorConfig)
    log: LogConfig = msgspec.field(default_factory=LogConfig)
    record: RecordConfig = msgspec.field(default_factory=RecordConfig)

    @property
    def storage_url(self) -> str:
        """The effective ClickHouse URL: `storage.url`, or the embedded store under data_dir."""
        if self.storage.url:
            return self.storage.url
        return "chdb://" + str((Path(self.service.data_dir) / "clickhouse").resolve())

    @property
    def recording_dir(self) -> Path:
        """Where feed recordings live: `record.dir`, or `recordings` under data_dir."""
        return Path(self.record.dir or Path(self.service.data_dir) / "recordings")

    def __repr__(self) -> str:
        # The default repr would print storage.password; never log the config object.
        ws_url = redact_url(self.polymarket.ws_url)
        return f"Config(data_dir={self.service.data_dir!r}, ws_url={ws_url!r})"
