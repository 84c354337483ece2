"""Input validation shared by the whole package: one clear message per bad value."""
from __future__ import annotations

import re
from typing import Iterable

import numpy as np


class UnlearnbookError(ValueError):
    """A bad input: the message names the value and what is allowed."""


class DataMissing(UnlearnbookError):
    """A dataset that is not on this machine (and may not be downloaded): not a bad input, so a
    run that failed on it is retried once the data is there."""


def check_choice(kind: str, value: object, allowed: Iterable[object]) -> None:
    """Raise when ``value`` is not one of ``allowed``."""
    allowed = list(allowed)
    if value not in allowed:
        raise UnlearnbookError(
            f"unknown {kind} {value!r}; allowed: {', '.join(repr(a) for a in allowed)}"
        )


def is_integer(value: object) -> bool:
    """An int or a numpy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_number(value: object) -> bool:
    """An int, a float or a numpy number, not a bool."""
    return is_integer(value) or isinstance(value, (float, np.floating))


def check_int(kind: str, value: object, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int; raise unless it is an integer (numpy integers accepted) in
    ``low..high`` (either bound may be None)."""
    allowed = (f"an integer in {low}..{high}" if low is not None and high is not None
               else f"an integer >= {low}" if low is not None
               else f"an integer <= {high}" if high is not None else "an integer")
    if not is_integer(value):
        raise UnlearnbookError(f"{kind} {value!r} is not an integer; allowed: {allowed}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise UnlearnbookError(f"{kind} {value!r} is out of range; allowed: {allowed}")
    return int(value)


def check_number(kind: str, value: object, low: float | None = None, high: float | None = None,
                 *, open_low: bool = False) -> float:
    """``value`` as a float; raise unless it is a number in [low, high] (``open_low``: low
    excluded)."""
    lower = "" if low is None else f"{'>' if open_low else '>='} {low:g}"
    upper = "" if high is None else f"<= {high:g}"
    allowed = "a number" + (f" {lower}" if lower else "") + (
        f"{' and' if lower else ''} {upper}" if upper else "")
    if not is_number(value):
        raise UnlearnbookError(f"{kind} {value!r} is not a number; allowed: {allowed}")
    if (low is not None and (value <= low if open_low else value < low)) or (
            high is not None and value > high):
        raise UnlearnbookError(f"{kind} {value!r} is out of range; allowed: {allowed}")
    return float(value)


def check_range(kind: str, value: int, low: int, high: int) -> None:
    """Raise unless ``value`` is an integer (numpy integers accepted) with
    ``low <= value <= high``."""
    if not is_integer(value) or not low <= value <= high:
        raise UnlearnbookError(f"{kind} {value!r} is out of range; allowed: {low}..{high}")


#: What a name that becomes a path or reaches a command line may hold (run ids, profile names,
#: architecture keys): letters, digits, ``_``, ``.`` and ``-``, starting with a letter or digit.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def check_safe_name(kind: str, value: object) -> str:
    """Raise unless ``value`` is a string matching :data:`SAFE_NAME` (no ``..``, no ``/``, no
    shell syntax): it names folders and appears on Snakemake's command lines."""
    if not isinstance(value, str) or not SAFE_NAME.fullmatch(value) or ".." in value:
        raise UnlearnbookError(f"{kind} {value!r} is not a safe name; allowed: letters, digits, "
                               "'_', '.' and '-', starting with a letter or digit, without '..'")
    return value
