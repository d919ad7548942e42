"""The fake PSP's clock: epoch seconds that tests and the admin API move, so charges expire without sleeping."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]


class AdjustableClock:
    """Real time plus an offset, or a frozen instant; ``advance`` and ``set`` move it from any thread."""

    def __init__(self, start: float | None = None, *, frozen: bool = False) -> None:
        self._lock = threading.Lock()
        self._frozen = frozen
        self._now = float(start if start is not None else time.time())
        self._offset = 0.0 if start is None else float(start) - time.time()

    def __call__(self) -> float:
        with self._lock:
            return self._now if self._frozen else time.time() + self._offset

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += seconds
            self._offset += seconds
        return self()

    def set(self, epoch_seconds: float) -> float:
        with self._lock:
            self._now = float(epoch_seconds)
            self._offset = float(epoch_seconds) - time.time()
        return self()
