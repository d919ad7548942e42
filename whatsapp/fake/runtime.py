"""Background work of the fake: a timer thread for delayed events and per-number webhook delivery workers.

Threads rather than asyncio tasks, so the same engine works under uvicorn, in a test's background server and when
driven directly from test threads; delays are real (compressed) seconds, while timestamps come from the fake clock.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx

from whatsapp.fake.state import FakeState, WebhookDelivery

log = logging.getLogger("whatsapp.fake")


class Scheduler:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[..., Any], tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._running = 0

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        with self._cond:
            if self._stopped:
                return
            heapq.heappush(self._heap, (time.monotonic() + max(delay, 0.0), next(self._seq), fn, args))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fake-cloud-api-scheduler", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped:
                    if self._heap and self._heap[0][0] <= time.monotonic():
                        break
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                _, _, fn, args = heapq.heappop(self._heap)
                self._running += 1
            try:
                fn(*args)
            except Exception:
                log.exception("fake cloud api: scheduled job failed")
            finally:
                with self._cond:
                    self._running -= 1

    def pending(self) -> int:
        with self._cond:
            return len(self._heap) + self._running

    def clear(self) -> None:
        with self._cond:
            self._heap.clear()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)


class WebhookDispatcher:
    """One FIFO per phone number; its worker posts each body in order and retries it with backoff."""

    def __init__(self, state: FakeState) -> None:
        self._state = state
        self._cond = threading.Condition()
        self._queues: dict[str, deque[tuple[int, WebhookDelivery]]] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._inflight = 0
        self._generation = 0
        self._stop = threading.Event()

    def enqueue(self, delivery: WebhookDelivery) -> None:
        with self._cond:
            if self._stop.is_set():
                return
            key = delivery.phone_number_id
            self._queues.setdefault(key, deque()).append((self._generation, delivery))
            if key not in self._threads:
                thread = threading.Thread(target=self._work, args=(key,), name=f"fake-webhooks-{key}", daemon=True)
                self._threads[key] = thread
                thread.start()
            self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return sum(len(q) for q in self._queues.values()) + self._inflight

    def clear(self) -> None:
        with self._cond:
            self._generation += 1
            for queue in self._queues.values():
                queue.clear()
            self._cond.notify_all()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout=5)

    def _work(self, key: str) -> None:
        # A fake posts to development endpoints: self-signed certificates are fine, proxies are not wanted.
        with httpx.Client(trust_env=False, follow_redirects=False, verify=False) as client:  # noqa: S501
            while True:
                with self._cond:
                    while not self._stop.is_set() and not self._queues.get(key):
                        self._cond.wait()
                    if self._stop.is_set():
                        return
                    generation, delivery = self._queues[key].popleft()
                    self._inflight += 1
                try:
                    self._deliver(client, generation, delivery)
                except Exception:
                    log.exception("fake cloud api: webhook delivery crashed")
                finally:
                    with self._cond:
                        self._inflight -= 1

    def _stale(self, generation: int) -> bool:
        with self._cond:
            return self._stop.is_set() or generation != self._generation

    def _deliver(self, client: httpx.Client, generation: int, delivery: WebhookDelivery) -> None:
        with self._state.lock:
            delays = list(self._state.settings.webhook_retry_delays_s)
            timeout = self._state.settings.webhook_timeout_s
        for attempt in range(len(delays) + 1):
            if self._stale(generation):
                return
            outcome: dict[str, Any] = {"at": time.time()}
            try:
                response = client.post(delivery.url, content=delivery.body, headers=delivery.headers, timeout=timeout)
                outcome["status_code"] = response.status_code
                ok = response.status_code == 200  # Meta treats anything but 200 as not acknowledged
            except httpx.HTTPError as exc:
                outcome["error"] = f"{type(exc).__name__}: {exc}"
                ok = False
            with self._state.lock:
                delivery.attempts.append(outcome)
                if ok:
                    delivery.state = "delivered"
                    return
                if attempt == len(delays):
                    delivery.state = "failed"
                    return
            with self._cond:
                # Sleep out the backoff, but wake at once on stop or reset.
                self._cond.wait_for(
                    lambda: self._stop.is_set() or generation != self._generation, timeout=delays[attempt]
                )
