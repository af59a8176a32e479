"""Track Events: the spec and its columns (spec.py), Pendo's window of times (window.py), the
event bodies and their sender (body.py), and the target (target.py)."""

from .spec import MAX_AGE_DAYS, EventSpec
from .target import EVENTS, EventsTarget

__all__ = ["EVENTS", "MAX_AGE_DAYS", "EventSpec", "EventsTarget"]
