"""Injected faults: 5xx, accepted-but-timed-out or held sends, injected error codes, latency, and their reset."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from whatsapp.fake import wait_for

if TYPE_CHECKING:
    from tests.whatsapp.fake_fixtures import FakeSetup

pytest_plugins = ["tests.whatsapp.fake_fixtures"]


def test_fail_next_5xx_fails_that_many_requests_then_recovers(fake: FakeSetup):
    fake.open_window()
    fake.admin.set_faults(fail_next_5xx=2)

    responses = [fake.send({"to": fake.customer, "type": "text", "text": {"body": "x"}}) for _ in range(3)]

    assert [r.status_code for r in responses] == [500, 500, 200]
    error = responses[0].json()["error"]
    assert (error["code"], error["message"], error["type"]) == (
        131000,
        "(#131000) Something went wrong",
        "OAuthException",
    )
    assert len(fake.admin.messages()) == 1
    assert len(fake.admin.requests(path_contains="/messages")) == 3


def test_timeout_after_accept_records_once_and_still_emits_statuses_with_callback_data(fake: FakeSetup):
    fake.open_window()
    fake.admin.set_faults(timeout_after_accept_next=1)
    body = {"to": fake.customer, "type": "text", "text": {"body": "x"}, "biz_opaque_callback_data": "out-7"}

    with pytest.raises(httpx.ReadTimeout):
        fake.send(body, timeout=httpx.Timeout(5.0, read=0.3))

    messages = fake.admin.messages()
    assert len(messages) == 1
    assert messages[0]["biz_opaque_callback_data"] == "out-7"
    statuses = fake.sink.wait_for_statuses(messages[0]["wamid"], ["sent", "delivered"])
    assert {s["biz_opaque_callback_data"] for s in statuses} == {"out-7"}
    assert len(fake.admin.requests(path_contains="/messages")) == 1
    assert fake.send(body).status_code == 200  # only the next send hangs


def test_a_hanging_response_is_released_when_faults_are_cleared(fake: FakeSetup):
    fake.open_window()
    fake.admin.set_faults(timeout_after_accept_next=1, timeout_hang_s=30)
    results: list[httpx.Response] = []

    import threading

    thread = threading.Thread(
        target=lambda: results.append(fake.send({"to": fake.customer, "type": "text", "text": {"body": "x"}}))
    )
    thread.start()
    wait_for(lambda: fake.admin.messages())
    fake.admin.clear_faults()
    thread.join(5)

    assert not thread.is_alive()
    assert results[0].status_code == 200
    assert results[0].json()["messages"][0]["id"] == fake.admin.messages()[0]["wamid"]


def test_hang_after_accept_records_every_send_before_its_answer(fake: FakeSetup):
    import threading

    fake.open_window()
    fake.admin.set_faults(hang_after_accept_ms=60_000)
    results: list[httpx.Response] = []
    bodies = [
        {"to": fake.customer, "type": "text", "text": {"body": text}, "biz_opaque_callback_data": f"out-{i}"}
        for i, text in enumerate(["x", "y"])
    ]
    threads = [threading.Thread(target=lambda body=body: results.append(fake.send(body))) for body in bodies]
    for thread in threads:
        thread.start()

    # Both sends are Meta's now, their statuses go out, and neither sender has had an answer.
    accepted = wait_for(lambda: len(fake.admin.messages()) == 2 and fake.admin.messages())
    for message in accepted:
        fake.sink.wait_for_statuses(message["wamid"], ["sent", "delivered"])
    assert sorted(m["biz_opaque_callback_data"] for m in accepted) == ["out-0", "out-1"]
    assert results == [] and all(thread.is_alive() for thread in threads)

    fake.admin.clear_faults()
    for thread in threads:
        thread.join(5)
    assert [r.status_code for r in results] == [200, 200]
    assert sorted(r.json()["messages"][0]["id"] for r in results) == sorted(m["wamid"] for m in accepted)
    assert len(fake.admin.messages()) == 2  # answered late, sent once


def test_hang_after_accept_answers_once_the_hang_is_over(fake: FakeSetup):
    fake.open_window()
    fake.admin.set_faults(hang_after_accept_ms=50)

    response = fake.send({"to": fake.customer, "type": "text", "text": {"body": "x"}})

    assert response.status_code == 200
    assert [m["wamid"] for m in fake.admin.messages()] == [response.json()["messages"][0]["id"]]


@pytest.mark.parametrize("code", [131026, 131049, 130472])
def test_error_next_with_an_asynchronous_code_accepts_then_reports_failed(fake: FakeSetup, code: int):
    fake.open_window()
    fake.admin.set_faults(error_next={str(code): 1})

    first = fake.send_text("x")
    second = fake.send_text("y")

    failed = fake.sink.wait_for_statuses(first, ["failed"])[0]
    assert failed["errors"][0]["code"] == code
    assert failed["errors"][0]["title"] == failed["errors"][0]["message"]
    fake.sink.wait_for_statuses(second, ["sent", "delivered"])


@pytest.mark.parametrize(("code", "http_status"), [(131000, 500), (131048, 400), (2, 503), (368, 403)])
def test_error_next_with_a_synchronous_code_returns_it(fake: FakeSetup, code: int, http_status: int):
    fake.open_window()
    fake.admin.set_faults(error_next={str(code): 1})

    first = fake.send({"to": fake.customer, "type": "text", "text": {"body": "x"}})
    second = fake.send({"to": fake.customer, "type": "text", "text": {"body": "y"}})

    assert (first.status_code, first.json()["error"]["code"]) == (http_status, code)
    assert second.status_code == 200
    assert len(fake.admin.messages()) == 1


def test_latency_holds_the_answer_past_a_shorter_client_timeout_and_an_abandoned_send_is_not_made(fake: FakeSetup):
    fake.open_window()
    body = {"to": fake.customer, "type": "text", "text": {"body": "x"}}
    fake.admin.set_faults(latency_ms=1500)

    with pytest.raises(httpx.ReadTimeout):
        fake.send(body, timeout=httpx.Timeout(5.0, read=0.3))

    # The client left while the fake still waited: the request is answered to nobody and nothing is sent.
    [abandoned] = wait_for(lambda: [r for r in fake.admin.requests(path_contains="/messages") if r["status_code"]])
    assert abandoned["status_code"] == 499
    assert fake.admin.messages() == []
    fake.admin.clear_faults()
    sent = fake.send(body, timeout=httpx.Timeout(5.0, read=0.3))
    assert sent.status_code == 200
    assert [m["wamid"] for m in fake.admin.messages()] == [sent.json()["messages"][0]["id"]]


def test_faults_are_reported_and_cleared(fake: FakeSetup):
    fake.admin.set_faults(latency_ms=5, duplicate_webhooks=True, error_next={"131026": 2})

    assert fake.http.get("/_fake/faults").json()["error_next"] == {"131026": 2}
    assert fake.send({"to": fake.customer, "type": "text", "text": {"body": "x"}}).status_code == 200
    cleared = fake.admin.clear_faults()

    assert cleared == {
        "latency_ms": 0,
        "fail_next_5xx": 0,
        "timeout_after_accept_next": 0,
        "timeout_hang_s": 30.0,
        "hang_after_accept_ms": 0,
        "duplicate_webhooks": False,
        "reorder_statuses": False,
        "error_next": {},
    }


def test_unknown_fault_names_are_refused(fake: FakeSetup):
    response = fake.http.post("/_fake/faults", json={"explode": True})

    assert response.status_code == 400
    assert "explode" in response.json()["error"]
