"""Input validation shared by the whole package: one clear message per bad value."""
from __future__ import annotations

from typing import Iterable


class UnlearnbookError(ValueError):
    """A bad input: the message names the value and what is allowed."""


def check_choice(kind: str, value: object, allowed: Iterable[object]) -> None:
    """Raise when ``value`` is not one of ``allowed``."""
    allowed = list(allowed)
    if value not in allowed:
        raise UnlearnbookError(
            f"unknown {kind} {value!r}; allowed: {', '.join(repr(a) for a in allowed)}"
        )


def check_range(kind: str, value: int, low: int, high: int) -> None:
    """Raise unless ``low <= value <= high``."""
    if not isinstance(value, (int,)) or isinstance(value, bool) or not low <= value <= high:
        raise UnlearnbookError(f"{kind} {value!r} is out of range; allowed: {low}..{high}")
