"""Outbound webhooks: Standard Webhooks signing, SSRF-safe delivery, retries and dead letters.

A sibling of `polymarket`, `storage` and `web`: it imports only `polymon.core` and
`polymon.errors`, and gets its settings as a `DeliveryParams` from the service.

    params.py    DeliveryParams: the knobs the service maps from `[webhooks]`
    signing.py   `whsec_` secrets, webhook ids, the `webhook-*` headers
    ssrf.py      URL rules, address rules, resolve once and pin the vetted address
    model.py     endpoints, events, pending deliveries, dead letters, counters
    retry.py     what an attempt's outcome means and when to try again (pure)
    attempt.py   one HTTP POST to a pinned address, never following redirects
    outbox.py    the durable state: an append-only JSON-lines journal with compaction
    schedule.py  DueSchedule: due times (a heap on trio's clock), one attempt per endpoint
    queue.py     DeliveryQueue: submit(), endpoints, outcomes, dead letters, replay
    delivery.py  WebhookDelivery(DeliveryQueue): run(), the dispatcher and the attempt tasks
"""
