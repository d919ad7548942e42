"""Outbound callbacks and webhooks of the fake: one worker thread posts each delivery, retrying with backoff.

Deliveries wait in a heap by due time, so one receiver that keeps failing does not hold back the others. Signed
webhooks are signed again at every attempt (a fresh ``ts``/``t``, a fresh ``x-request-id``), as the PSPs do.
Delays are real (compressed) seconds from the settings; timestamps come from the fake clock.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from payments.fake.state import Delivery, FakePspState

log = logging.getLogger("payments.fake")

# Makes the headers of one attempt from the body (signature, request id); None for unsigned callbacks.
Signer = Callable[[bytes], dict[str, str]]
# Mercado Pago acknowledges with 200 or 201 only; the others take any 2xx.
_ACCEPTED = {"mercadopago": frozenset({200, 201})}


class Dispatcher:
    def __init__(
        self,
        state: FakePspState,
        *,
        transport: httpx.BaseTransport | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._state = state
        self._transport = transport
        # The PSP's side of a mutual-TLS callback: its client certificate and the CAs it trusts (None: system CAs).
        self._verify: ssl.SSLContext | bool = tls if tls is not None else True
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Delivery, int]] = []
        self._signers: dict[int, Signer | None] = {}
        self._order = itertools.count()
        self._inflight = 0
        self._generation = 0
        self._stopped = False
        self._thread: threading.Thread | None = None

    def send(
        self, provider: str, url: str, body: bytes, headers: dict[str, str], signer: Signer | None = None
    ) -> list[Delivery]:
        """Queue ``body`` for ``url`` (twice when duplicates are on); held back while ``hold_deliveries`` is set."""
        with self._state.lock:
            copies = 2 if self._state.settings.duplicate_deliveries else 1
            hold = self._state.settings.hold_deliveries
            made = []
            for _ in range(copies):
                delivery = Delivery(
                    id=self._state.next_id(),
                    provider=provider,
                    url=url,
                    headers=dict(headers),
                    body=body,
                    state="held" if hold else "pending",
                )
                self._state.deliveries.append(delivery)
                made.append(delivery)
        for delivery in made:
            self._signers[delivery.id] = signer
            if not hold:
                self._schedule(delivery, delay=0.0)
        return made

    def release(self, *, reverse: bool = False) -> int:
        """Send the held deliveries, in the order they were made or the reverse (to test out-of-order arrival)."""
        with self._state.lock:
            held = [d for d in self._state.deliveries if d.state == "held"]
            for delivery in held:
                delivery.state = "pending"
        for delivery in reversed(held) if reverse else held:
            self._schedule(delivery, delay=0.0)
        return len(held)

    def pending(self) -> int:
        with self._cond:
            return len(self._heap) + self._inflight

    def clear(self) -> None:
        with self._cond:
            self._generation += 1
            self._heap.clear()
            self._signers.clear()
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _schedule(self, delivery: Delivery, *, delay: float, generation: int | None = None) -> None:
        with self._cond:
            if self._stopped or generation not in (None, self._generation):
                return
            entry = (time.monotonic() + delay, next(self._order), delivery, self._generation)
            heapq.heappush(self._heap, entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fake-psp-deliveries", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _run(self) -> None:
        # A fake posts to development endpoints: no proxies from the environment.
        client = httpx.Client(transport=self._transport, verify=self._verify, trust_env=False, follow_redirects=False)
        with client:
            while (job := self._next()) is not None:
                delivery, generation = job
                try:
                    self._attempt(client, delivery, generation)
                except Exception:
                    log.exception("fake psp: delivery %s crashed", delivery.id)
                finally:
                    with self._cond:
                        self._inflight -= 1

    def _next(self) -> tuple[Delivery, int] | None:
        with self._cond:
            while not self._stopped:
                if self._heap and self._heap[0][0] <= time.monotonic():
                    _, _, delivery, generation = heapq.heappop(self._heap)
                    self._inflight += 1
                    return delivery, generation
                timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                self._cond.wait(timeout)
            return None

    def _attempt(self, client: httpx.Client, delivery: Delivery, generation: int) -> None:
        with self._cond:
            if generation != self._generation:
                return
            signer = self._signers.get(delivery.id)
        with self._state.lock:
            delays = self._state.settings.delivery_retry_delays_s
            timeout = self._state.settings.delivery_timeout_s
        headers = {**delivery.headers, **(signer(delivery.body) if signer else {})}
        outcome: dict[str, Any] = {"at": self._state.now(), "headers": headers}
        try:
            response = client.post(delivery.url, content=delivery.body, headers=headers, timeout=timeout)
            outcome["status_code"] = response.status_code
            accepted = _ACCEPTED.get(delivery.provider)
            ok = response.status_code in accepted if accepted else 200 <= response.status_code < 300
        except httpx.HTTPError as exc:
            outcome["error"] = f"{type(exc).__name__}: {exc}"
            ok = False
        with self._state.lock:
            delivery.attempts.append(outcome)
            tries = len(delivery.attempts)
            if ok or tries > len(delays):
                delivery.state = "delivered" if ok else "failed"
                return
        self._schedule(delivery, delay=delays[tries - 1], generation=generation)
