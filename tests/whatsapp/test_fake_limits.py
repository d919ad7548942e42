"""Throughput (130429) and pair-rate (131056) limits of the fake."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from whatsapp.fake import AdjustableClock

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.whatsapp.fake_fixtures import FakeSetup

pytest_plugins = ["tests.whatsapp.fake_fixtures"]


def text_to(customer: str) -> dict[str, Any]:
    return {"to": customer, "type": "text", "text": {"body": "promo"}}


def without_trace(error: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in error.items() if k != "fbtrace_id"}


def test_a_burst_of_100_sends_at_20_per_second_never_accepts_more_than_20_in_any_second(
    dedicated_fake: Callable[..., FakeSetup],
):
    fake = dedicated_fake(clock=AdjustableClock(), throughput_per_s=20, webhook_url=None)
    customers = [f"55119{index:08d}" for index in range(100)]

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(lambda c: fake.send(text_to(c)), customers))

    accepted = [r for r in responses if r.status_code == 200]
    rejected = [r for r in responses if r.status_code != 200]
    assert len(accepted) >= 20
    assert len(accepted) + len(rejected) == 100
    expected = fake.fixtures.json("error_130429.json")["error"]
    for response in rejected:
        assert response.status_code == 400
        assert without_trace(response.json()["error"]) == without_trace(expected)
    times = sorted(m["created_at"] for m in fake.admin.messages())
    assert len(times) == len(accepted)
    for start in times:
        assert sum(1 for t in times if start <= t < start + 1.0) <= 20


def test_throughput_recovers_once_the_second_has_passed(fake: FakeSetup):
    fake.reconfigure(throughput_per_s=5)

    first = [fake.send(text_to(f"551190000000{i}")).status_code for i in range(8)]
    fake.clock.advance(1.0)
    second = [fake.send(text_to(f"551191111111{i}")).status_code for i in range(6)]

    assert first == [200] * 5 + [400] * 3
    assert second == [200] * 5 + [400]


def test_pair_rate_allows_a_burst_then_one_message_per_interval(fake: FakeSetup):
    fake.reconfigure(pair_burst=3, pair_interval_s=6)
    fake.open_window()

    burst = [fake.send(text_to(fake.customer)) for _ in range(4)]
    other_customer = fake.send(text_to("5511988887777"))
    fake.clock.advance(6)
    after_interval = [fake.send(text_to(fake.customer)).status_code for _ in range(2)]
    fake.clock.advance(600)
    refilled = [fake.send(text_to(fake.customer)).status_code for _ in range(4)]

    assert [r.status_code for r in burst] == [200, 200, 200, 400]
    error = burst[3].json()["error"]
    expected = fake.fixtures.json("error_131056.json")["error"]
    assert (error["message"], error["code"], error["type"]) == (expected["message"], 131056, "OAuthException")
    assert error["error_data"] == {"messaging_product": "whatsapp", "details": expected["error_data"]["details"]}
    assert other_customer.status_code == 200
    assert after_interval == [200, 400]
    assert refilled == [200, 200, 200, 400]


def test_default_pair_burst_is_45(fake: FakeSetup):
    fake.open_window()

    codes = [fake.send(text_to(fake.customer)).status_code for _ in range(46)]

    assert codes == [200] * 45 + [400]


def test_a_send_counts_against_the_throughput_when_it_arrived(fake: FakeSetup):
    """Meta counts a request when it reaches its edge; the fake too, however long it took to handle it."""
    fake.reconfigure(throughput_per_s=1)
    engine = fake.server.engine
    number = engine.state.numbers[fake.pnid]
    first = {"messaging_product": "whatsapp", "to": "5511900000001", "type": "text", "text": {"body": "um"}}
    second = {**first, "to": "5511900000002"}
    arrived = fake.clock()
    fake.clock.advance(0.9)  # the first send is handled late...
    engine.send(version="v23.0", number=number, body=first, arrived_at=arrived)
    fake.clock.advance(0.2)  # ...the second, arrived 1.05 s after it, on time: a second apart at the edge
    engine.send(version="v23.0", number=number, body=second, arrived_at=arrived + 1.05)
    assert sorted(m["wa_id"] for m in fake.admin.messages()) == ["5511900000001", "5511900000002"]
