"""Sampling error of the numbers the book reads (torch-free: shared by the report and the
notebooks)."""
from __future__ import annotations

import math


def binomial_se(percent: float, n: float) -> float:
    """The standard error, in points, of an accuracy of ``percent`` measured on ``n`` samples,
    as the half-width of the Wilson score interval at z = 1:
    100·sqrt(p(1 − p)/n + 1/(4n²)) / (1 + 1/n). It is the textbook 100·sqrt(p(1 − p)/n) up to
    terms in 1/n, but not 0 at 0% or 100%, where a handful of samples says little (at p = 0
    and n = 100 it is 0.5 points)."""
    if not n or math.isnan(n) or math.isnan(percent):
        return 0.0
    p = min(max(percent / 100.0, 0.0), 1.0)
    return 100.0 * math.sqrt(p * (1.0 - p) / n + 1.0 / (4.0 * n * n)) / (1.0 + 1.0 / n)
