"""The fakes' clock: epoch seconds that tests (and the admin APIs) move without sleeping, so charges expire,
windows close and tokens lapse on demand."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]


class AdjustableClock:
    """Real time plus an offset, or a frozen instant; ``advance``/``set`` move it from any thread."""

    def __init__(self, start: float | None = None, *, frozen: bool = False) -> None:
        self._lock = threading.Lock()
        self._frozen = frozen
        now = time.time()
        if frozen:
            self._now = now if start is None else float(start)
            self._offset = 0.0
        else:
            self._now = 0.0
            self._offset = 0.0 if start is None else float(start) - now

    def __call__(self) -> float:
        with self._lock:
            return self._now if self._frozen else time.time() + self._offset

    @property
    def frozen(self) -> bool:
        return self._frozen

    def advance(self, seconds: float) -> float:
        with self._lock:
            if self._frozen:
                self._now += seconds
                return self._now
            self._offset += seconds
            return time.time() + self._offset

    def set(self, epoch_seconds: float) -> float:
        with self._lock:
            if self._frozen:
                self._now = float(epoch_seconds)
            else:
                self._offset = float(epoch_seconds) - time.time()
        return float(epoch_seconds)
