"""The fake's clock (``fakes.clock``, shared by the project's fakes)."""

from fakes.clock import AdjustableClock, Clock

__all__ = ["AdjustableClock", "Clock"]
