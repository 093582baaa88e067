"""Delivery under a mock clock, against scripted receivers reached in process (reliability W1, W2).

Every test jumps through hours of retry schedule with `autojump_clock`; the receivers record the
trio time of each request, so gaps are compared with the schedule exactly (within its jitter).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import msgspec
import pytest
import trio
import trio.testing
from standardwebhooks import Webhook

from polymon.errors import BadRequest, NotFound, UnsafeUrl
from polymon.webhooks.model import DeadReason, SigningSecret
from polymon.webhooks.params import DEFAULT_RETRY_SCHEDULE_SECS as SCHEDULE
from polymon.webhooks.signing import generate_secret, webhook_id
from tests.webhooks.helpers import SECRET, endpoint, event, make_delivery, running
from tests.webhooks.receiver import HANG, Network, Receiver, Reply

HOUR = 3600.0
JITTER = 0.2
TIMEOUT = 15.0


def assert_gap(gap: float, delay: float, *, slack: float = 0.0) -> None:
    """`gap` is the scheduled `delay` within ±20 % jitter, plus `slack` (a timed-out attempt)."""
    assert delay * (1 - JITTER) <= gap <= delay * (1 + JITTER) + slack + 1e-9, (gap, delay)


async def test_retries_until_delivered_with_one_webhook_id(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    network = Network()
    receiver = Receiver([500, 500, HANG, 200])
    url = network.add("hooks.example", receiver)
    async with running(make_delivery(tmp_path, network)) as delivery:
        delivery.upsert_endpoint(endpoint("ep", url, "market.created"))
        delivery.submit([event("e1")])
        await trio.sleep(48 * HOUR)

    assert len(receiver.calls) == 4
    assert {call.headers["webhook-id"] for call in receiver.calls} == {webhook_id("ep", "e1")}
    t = receiver.times
    assert t[0] == 0.0
    assert_gap(t[1] - t[0], SCHEDULE[1])
    assert_gap(t[2] - t[1], SCHEDULE[2])
    assert_gap(t[3] - t[2], SCHEDULE[3], slack=TIMEOUT)  # the third attempt hung until timeout
    assert t[3] - t[2] >= TIMEOUT + SCHEDULE[3] * (1 - JITTER)
    for call in receiver.calls:
        Webhook(SECRET).verify(call.body, call.headers)
        assert call.headers["host"] == "hooks.example"
        assert call.headers["content-type"] == "application/json"
    counters = delivery.counters
    assert (counters.delivered, counters.failed, counters.retried) == (1, 3, 3)
    assert counters.dead_lettered == 0
    assert delivery.pending() == []
    assert delivery.dead_letters() == []


async def test_a_receiver_that_always_fails_ends_in_a_dead_letter_after_attempt_10(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    network = Network()
    receiver = Receiver(default=Reply(500, body=b"boom"))
    url = network.add("hooks.example", receiver)
    async with running(make_delivery(tmp_path, network)) as delivery:
        delivery.upsert_endpoint(endpoint("ep", url, "market.created"))
        delivery.submit([event("e1")])
        await trio.sleep(sum(SCHEDULE) * 1.2 + HOUR)
        assert len(receiver.calls) == 10
        await trio.sleep(7 * 24 * HOUR)

    assert len(receiver.calls) == 10
    for i in range(1, 10):
        assert_gap(receiver.times[i] - receiver.times[i - 1], SCHEDULE[i])
    [letter] = delivery.dead_letters()
    assert (letter.endpoint_id, letter.event_id) == ("ep", "e1")
    assert letter.webhook_id == webhook_id("ep", "e1")
    assert (letter.attempts, letter.last_status, letter.reason) == (10, 500, DeadReason.EXHAUSTED)
    assert letter.last_error == "HTTP 500: boom"
    assert letter.body == event("e1").body
    assert delivery.pending() == []
    counters = delivery.counters
    assert (counters.failed, counters.retried, counters.dead_lettered) == (10, 9, 1)


async def test_410_disables_the_endpoint_and_nothing_more_is_sent(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    network = Network()
    receiver = Receiver([500, 410])
    url = network.add("hooks.example", receiver)
    async with running(make_delivery(tmp_path, network)) as delivery:
        delivery.upsert_endpoint(endpoint("ep", url, "market.created"))
        delivery.submit([event("e1"), event("e2")])
        await trio.sleep(7 * 24 * HOUR)
        assert len(receiver.calls) == 2  # e1 failed (500), then e2 got 410 Gone
        gone = delivery.endpoint("ep")
        assert not gone.enabled
        assert "410" in gone.disabled_reason
        letters = {d.event_id: d for d in delivery.dead_letters()}
        assert letters["e2"].reason is DeadReason.ENDPOINT_GONE
        assert (letters["e2"].attempts, letters["e2"].last_status) == (1, 410)
        assert letters["e1"].reason is DeadReason.ENDPOINT_DISABLED
        assert (letters["e1"].attempts, letters["e1"].last_status) == (1, 500)
        assert (delivery.counters.disabled, delivery.counters.dead_lettered) == (1, 2)

        delivery.submit([event("e3")])
        await trio.sleep(HOUR)
        assert len(receiver.calls) == 2
        assert delivery.counters.skipped_disabled == 1
        with pytest.raises(BadRequest):
            delivery.replay(letters["e1"].webhook_id)

        # Manual recovery: enable, then replay; the replay carries the same webhook-id.
        delivery.set_enabled("ep", True)
        delivery.replay(letters["e1"].webhook_id)
        await trio.sleep(1)
    assert len(receiver.calls) == 3
    assert receiver.calls[2].headers["webhook-id"] == letters["e1"].webhook_id
    assert receiver.calls[2].body == event("e1").body
    assert [d.event_id for d in delivery.dead_letters()] == ["e2"]
    assert (delivery.counters.replayed, delivery.counters.delivered) == (1, 1)


def http_date_in(seconds: float) -> str:
    return format_datetime(datetime.fromtimestamp(time.time() + seconds, UTC), usegmt=True)


@pytest.mark.parametrize(
    ("status", "retry_after", "low", "high"),
    [
        (429, "3600", 3600.0, 3600.0),
        (503, "600", 600.0, 600.0),
        (503, str(30 * 24 * 3600), 24 * HOUR, 24 * HOUR),  # capped at 24 h
        (429, "1", 4.0, 6.0),  # shorter than the schedule's 5 s: the schedule wins
        (500, "3600", 4.0, 6.0),  # only 429 and 503 are throttling answers
        (429, "soon", 4.0, 6.0),  # unreadable
        (429, None, 4.0, 6.0),
    ],
)
async def test_retry_after_is_honoured_for_429_and_503(
    autojump_clock: trio.testing.MockClock,
    tmp_path: Path,
    status: int,
    retry_after: str | None,
    low: float,
    high: float,
) -> None:
    network = Network()
    headers = {} if retry_after is None else {"retry-after": retry_after}
    receiver = Receiver([Reply(status, headers)])
    url = network.add("hooks.example", receiver)
    async with running(make_delivery(tmp_path, network)) as delivery:
        delivery.upsert_endpoint(endpoint("ep", url, "market.created"))
        delivery.submit([event("e1")])
        await trio.sleep(3 * 24 * HOUR)
    assert len(receiver.calls) == 2
    assert low <= receiver.times[1] - receiver.times[0] <= high


async def test_retry_after_as_an_http_date(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    network = Network()
    receiver = Receiver([Reply(503, {"retry-after": http_date_in(2 * HOUR)})])
    url = network.add("hooks.example", receiver)
    async with running(make_delivery(tmp_path, network)) as delivery:
        delivery.upsert_endpoint(endpoint("ep", url, "market.created"))
        delivery.submit([event("e1")])
        await trio.sleep(3 * HOUR)
    assert len(receiver.calls) == 2
    # HTTP dates have whole seconds; the wall clock moved a little meanwhile.
    assert 2 * HOUR - 3 <= receiver.times[1] - receiver.times[0] <= 2 * HOUR + 1


async def test_restart_mid_schedule_makes_the_remaining_attempts(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    network = Network()
    receiver = Receiver([500, 500, 500, 200])
    url = network.add("hooks.example", receiver)
    base = time.time()

    def wall() -> float:
        # Wall time moves with the mock clock, as it would across a real restart.
        return base + trio.current_time()

    async with running(make_delivery(tmp_path, network, clock=wall, seed=1)) as first:
        first.upsert_endpoint(endpoint("ep", url, "market.created"))
        first.submit([event("e1")])
        await trio.sleep(60)
        assert len(receiver.calls) == 2
    stopped_at = trio.current_time()
    await trio.sleep(30)  # the process is down for a while

    second = make_delivery(tmp_path, network, clock=wall, seed=2)
    [pending] = second.pending()
    assert (pending.event_id, pending.attempts, pending.last_status) == ("e1", 2, 500)
    assert second.endpoint("ep").url == url
    async with running(second):
        await trio.sleep(48 * HOUR)

    assert len(receiver.calls) == 4
    t = receiver.times
    assert t[2] > stopped_at
    assert_gap(t[2] - t[1], SCHEDULE[2])
    assert_gap(t[3] - t[2], SCHEDULE[3])
    msg_id = webhook_id("ep", "e1")
    assert {call.headers["webhook-id"] for call in receiver.calls} == {msg_id}
    for call in receiver.calls:
        sent_at = datetime.fromtimestamp(int(call.headers["webhook-timestamp"]), UTC)
        expected = Webhook(SECRET).sign(msg_id, sent_at, call.body.decode())
        assert call.headers["webhook-signature"] == expected
    assert second.counters.delivered == 1
    assert second.pending() == []


async def test_an_attempt_cut_short_by_shutdown_is_made_again_after_restart(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    network = Network()
    receiver = Receiver([HANG])
    url = network.add("hooks.example", receiver)
    async with running(make_delivery(tmp_path, network)) as first:
        first.upsert_endpoint(endpoint("ep", url, "market.created"))
        first.submit([event("e1")])
        await trio.sleep(1)
        assert len(receiver.calls) == 1  # hanging: cancelled by the shutdown
    async with running(make_delivery(tmp_path, network)) as second:
        await trio.sleep(1)
    assert len(receiver.calls) == 2
    assert receiver.calls[0].headers["webhook-id"] == receiver.calls[1].headers["webhook-id"]
    assert second.counters.delivered == 1


async def test_a_hanging_endpoint_does_not_delay_a_healthy_one(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    network = Network()
    hanging = Receiver(default=HANG)
    healthy = Receiver()
    slow_url = network.add("slow.example", hanging)
    fast_url = network.add("fast.example", healthy)
    async with running(make_delivery(tmp_path, network)) as delivery:
        delivery.upsert_endpoint(endpoint("slow", slow_url, "market.created"))
        delivery.upsert_endpoint(endpoint("fast", fast_url, "market.created"))
        delivery.submit([event(f"e{i}") for i in range(5)])
        await trio.sleep(1)
        assert healthy.times == [0.0] * 5
        assert hanging.times == [0.0]  # one attempt at a time per endpoint
        assert delivery.counters.delivered == 5
        await trio.sleep(TIMEOUT)
        assert delivery.counters.failed >= 1
    # The first attempt timed out after 15 s; only then did the next parked delivery start.
    assert hanging.times[1] == pytest.approx(TIMEOUT)
    assert all(d.endpoint_id == "slow" for d in delivery.pending())


async def test_global_concurrency_limit(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    network = Network()
    receivers = [Receiver(default=HANG) for _ in range(40)]
    async with running(make_delivery(tmp_path, network, max_concurrency=32)) as delivery:
        for i, receiver in enumerate(receivers):
            url = network.add(f"r{i}.example", receiver)
            delivery.upsert_endpoint(endpoint(f"ep{i}", url, "market.created"))
        delivery.submit([event("e1")])
        await trio.sleep(1)
        assert sum(len(r.calls) for r in receivers) == 32
        await trio.sleep(TIMEOUT)
        assert sum(len(r.calls) for r in receivers) == 40
    assert sorted({t for r in receivers for t in r.times}) == [0.0, TIMEOUT]


async def test_submit_beyond_the_bound_is_counted_and_dead_lettered(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    network = Network()
    receiver = Receiver(default=HANG)
    url = network.add("hooks.example", receiver)
    delivery = make_delivery(tmp_path, network, max_pending_per_endpoint=3)
    async with running(delivery):
        delivery.upsert_endpoint(endpoint("ep", url, "market.created"))
        started = trio.current_time()
        delivery.submit([event(f"e{i}") for i in range(5)])
        assert trio.current_time() == started  # submit never waits
        await trio.sleep(1)
    assert [p.event_id for p in delivery.pending()] == ["e0", "e1", "e2"]
    letters = delivery.dead_letters()
    assert [d.event_id for d in letters] == ["e3", "e4"]
    assert {d.reason for d in letters} == {DeadReason.QUEUE_FULL}
    assert (delivery.counters.dropped, delivery.counters.dead_lettered) == (2, 2)


async def test_dead_letters_are_bounded_oldest_first(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    network = Network()
    url = network.add("hooks.example", Receiver())
    delivery = make_delivery(tmp_path, network, max_pending_per_endpoint=1, max_dead_letters=2)
    delivery.upsert_endpoint(endpoint("ep", url, "market.created"))
    delivery.submit([event(f"e{i}") for i in range(5)])  # not running: e0 stays pending
    assert [d.event_id for d in delivery.dead_letters()] == ["e3", "e4"]
    assert (delivery.counters.dead_lettered, delivery.counters.dead_letters_evicted) == (4, 2)
    delivery.close()


async def test_routing_by_type_and_by_endpoint(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    network = Network()
    created, resolved, trigger = Receiver(), Receiver(), Receiver()
    async with running(make_delivery(tmp_path, network)) as delivery:
        delivery.upsert_endpoint(endpoint("a", network.add("a.example", created), "market.created"))
        delivery.upsert_endpoint(
            endpoint("b", network.add("b.example", resolved), "market.resolved")
        )
        delivery.upsert_endpoint(endpoint("t1", network.add("t.example", trigger)))
        delivery.submit(
            [
                event("m1", "market.created"),
                event("m2", "market.resolved"),
                event("f1", "alert.fired", endpoint_id="t1"),
                event("f2", "alert.fired", endpoint_id="nobody"),
                event("x", "something.else"),
            ]
        )
        delivery.submit([event("m1", "market.created")])  # again, still pending or delivered
        await trio.sleep(1)
    assert [c.body for c in created.calls] == [event("m1").body]
    assert [c.body for c in resolved.calls] == [event("m2", "market.resolved").body]
    assert [c.body for c in trigger.calls] == [event("f1", "alert.fired").body]
    assert delivery.counters.unroutable == 1
    assert delivery.counters.delivered == 3


async def test_the_same_event_pending_twice_is_one_delivery(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    network = Network()
    receiver = Receiver([500])
    url = network.add("hooks.example", receiver)
    async with running(make_delivery(tmp_path, network)) as delivery:
        delivery.upsert_endpoint(endpoint("ep", url, "market.created"))
        delivery.submit([event("e1")])
        await trio.sleep(1)
        delivery.submit([event("e1")])
        await trio.sleep(HOUR)
    assert len(receiver.calls) == 2
    assert delivery.counters.duplicates == 1


async def test_redirects_are_failures_and_not_followed(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    network = Network()
    receiver = Receiver([Reply(302, {"location": "http://127.0.0.1:9/"}), 200])
    url = network.add("hooks.example", receiver)
    async with running(make_delivery(tmp_path, network)) as delivery:
        delivery.upsert_endpoint(endpoint("ep", url, "market.created"))
        delivery.submit([event("e1")])
        await trio.sleep(1)
        assert delivery.counters.failed == 1
        assert delivery.pending()[0].last_error == "HTTP 302: redirects are not followed"
        await trio.sleep(HOUR)
    assert len(receiver.calls) == 2
    assert all(r.url.host != "127.0.0.1" for r in network.requests)
    assert delivery.counters.delivered == 1


async def test_the_vetted_address_is_pinned_once_per_attempt(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    network = Network()
    receiver = Receiver([500, 200])
    url = network.add("hooks.example", receiver, ["8.8.4.4", "8.8.8.8"])
    async with running(make_delivery(tmp_path, network)) as delivery:
        delivery.upsert_endpoint(endpoint("ep", url, "market.created"))
        delivery.submit([event("e1")])
        await trio.sleep(1)
        # DNS rebinding: the name now points at loopback; the next attempt refuses it.
        network.addresses["hooks.example"] = ["8.8.4.4", "127.0.0.1"]
        await trio.sleep(SCHEDULE[1] * 2)
        assert len(receiver.calls) == 1
        assert "unsafe_url" in delivery.pending()[0].last_error
        network.addresses["hooks.example"] = ["8.8.8.8"]
        await trio.sleep(HOUR)
    assert len(receiver.calls) == 2
    assert network.lookups == ["hooks.example"] * 3
    assert [str(r.url) for r in network.requests] == [
        "https://8.8.4.4/hook",
        "https://8.8.8.8/hook",
    ]
    assert all(r.extensions["sni_hostname"] == "hooks.example" for r in network.requests)
    assert all(r.headers["host"] == "hooks.example" for r in network.requests)


async def test_every_unexpired_secret_signs(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    network = Network()
    receiver = Receiver()
    url = network.add("hooks.example", receiver)
    new_secret = generate_secret()
    secrets = (SigningSecret(new_secret), SigningSecret(SECRET, expires_at=time.time() + 86400))
    two = msgspec.structs.replace(endpoint("ep", url, "market.created"), secrets=secrets)
    async with running(make_delivery(tmp_path, network)) as delivery:
        delivery.upsert_endpoint(two)
        delivery.submit([event("e1")])
        await trio.sleep(1)
    [call] = receiver.calls
    assert len(call.headers["webhook-signature"].split(" ")) == 2
    Webhook(SECRET).verify(call.body, call.headers)
    Webhook(new_secret).verify(call.body, call.headers)


async def test_endpoint_management(autojump_clock: trio.testing.MockClock, tmp_path: Path) -> None:
    network = Network()
    receiver = Receiver(default=HANG)
    url = network.add("hooks.example", receiver)
    delivery = make_delivery(tmp_path, network)
    with pytest.raises(UnsafeUrl):
        delivery.upsert_endpoint(endpoint("ep", "http://127.0.0.1/hook"))
    with pytest.raises(BadRequest):
        delivery.upsert_endpoint(endpoint("ep", url, secret="whsec_short"))
    with pytest.raises(BadRequest):
        delivery.upsert_endpoint(endpoint("", url))
    with pytest.raises(NotFound):
        delivery.remove_endpoint("ep")
    with pytest.raises(NotFound):
        delivery.replay("msg_nothing")
    delivery.upsert_endpoint(endpoint("ep", url, "market.created"))
    delivery.submit([event("e1"), event("e2")])
    assert len(delivery.pending("ep")) == 2
    delivery.remove_endpoint("ep")
    assert delivery.pending() == []
    assert delivery.endpoints() == []
    assert delivery.counters.discarded == 2
    delivery.close()


async def test_a_delivery_in_flight_when_its_endpoint_is_removed_is_not_resurrected(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    network = Network()
    receiver = Receiver([HANG])
    url = network.add("hooks.example", receiver)
    async with running(make_delivery(tmp_path, network)) as delivery:
        delivery.upsert_endpoint(endpoint("ep", url, "market.created"))
        delivery.submit([event("e1")])
        await trio.sleep(1)
        delivery.remove_endpoint("ep")
        await trio.sleep(HOUR)
    assert len(receiver.calls) == 1
    assert delivery.pending() == []
    assert delivery.dead_letters() == []
    assert delivery.counters.failed == 1
