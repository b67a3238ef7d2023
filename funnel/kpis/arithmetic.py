"""Pure arithmetic of the KPIs: no database, no Django, each function tiny and tested.

Rounding follows the KPI contract: ratios to 4 decimal places, money, days
and scores to 2, half away from zero, returned as ``float`` (or ``None``).
"""

import math
from decimal import ROUND_HALF_UP, Decimal

Number = int | float | Decimal


def _round(value: Number | None, places: int) -> float | None:
    if value is None:
        return None
    quantum = Decimal(1).scaleb(-places)
    return float(Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP))


def round_ratio(value: Number | None) -> float | None:
    """A ratio rounded to 4 decimal places (``None`` stays ``None``)."""
    return _round(value, 4)


def round_2(value: Number | None) -> float | None:
    """Money, days or a score rounded to 2 decimal places (``None`` stays ``None``)."""
    return _round(value, 2)


def ratio(numerator: Number | None, denominator: Number | None) -> Decimal | None:
    """``numerator / denominator``; ``None`` when the denominator is 0 or missing."""
    if not denominator:
        return None
    return Decimal(str(numerator or 0)) / Decimal(str(denominator))


def complement(value: Number | None) -> Decimal | None:
    """``1 - value`` (``None`` stays ``None``): e.g. the unengaged rate."""
    return None if value is None else Decimal(1) - Decimal(str(value))


def mean(total: Number | None, count: int | None) -> Decimal | None:
    """Mean of ``count`` rows summing to ``total``; ``None`` for no rows."""
    return ratio(total, count)


def nps(promoters: int, detractors: int, responses: int) -> Decimal | None:
    """Net promoter score: % promoters − % detractors, from −100 to 100; ``None`` with no answers."""
    if not responses:
        return None
    return Decimal(100) * (Decimal(promoters) - Decimal(detractors)) / Decimal(responses)


def acv(amount: Number, term_months: int) -> Decimal:
    """Annual contract value: ``amount / (term_months / 12)``; 500,000 over 60 months is 100,000."""
    if term_months <= 0:
        raise ValueError("term_months must be positive")
    return Decimal(str(amount)) * Decimal(12) / Decimal(term_months)


def lifespan_years(churn_rate: Number | None, max_years: Number) -> Decimal | None:
    """Mean customer lifespan: ``1 / annual churn rate``, capped at ``max_years`` (and when 0)."""
    if churn_rate is None:
        return None
    rate = Decimal(str(churn_rate))
    cap = Decimal(str(max_years))
    if rate <= 0:
        return cap
    return min(Decimal(1) / rate, cap)


def product(a: Number | None, b: Number | None) -> Decimal | None:
    """``a × b``, ``None`` when either is missing (e.g. CLV without an ACV)."""
    if a is None or b is None:
        return None
    return Decimal(str(a)) * Decimal(str(b))


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval of ``successes / n`` (95 % with the default ``z``), rounded
    to four places; ``None`` without a sample. Unlike the normal approximation it stays in
    [0, 1] and is honest for the small samples ABM cohorts often have."""
    if not n:
        return None
    p, z2 = successes / n, z * z
    scale = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / scale
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / scale
    return round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)
