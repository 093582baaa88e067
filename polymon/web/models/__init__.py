"""The HTTP API's request and response models (msgspec Structs), one module per area, from
which the OpenAPI document is generated; the read models are also what `web.backend.Backend`
returns, so the service builds exactly what the routes encode.

Conventions: responses that list things wrap the list in an envelope (`items`, counts, paging)
so the document describes them exactly and they can grow fields later. Query-string models
are decoded with `strict=False` (numbers and booleans arrive as text) and reject unknown
parameters, so a typo is a 400, not a silent default. A field that a response sometimes leaves
out is typed `X | UnsetType` (omitted when UNSET), never turned into a null.

Modules: common (parameter types, Query, ErrorOut, Deleted/Created), envelopes (the generic
Report and Result), health (/health, /test/*), shards (subscriptions, shard status, latency),
cron, lifecycle, admin (actions, sessions), markets, export, alerts (triggers, events,
backtests, recordings), webhooks (dead letters), activity (trades, gaps, HTTP stats, session).
"""
