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


def _wilson(successes: int, n: int, z: float) -> tuple[float, float]:
    p, z2 = successes / n, z * z
    scale = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / scale
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / scale
    return max(0.0, centre - half), min(1.0, centre + half)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval of ``successes / n`` (95 % with the default ``z``), rounded
    to four places; ``None`` without a sample. Unlike the normal approximation it stays in
    [0, 1] and is honest for the small samples ABM cohorts often have."""
    if not n:
        return None
    low, high = _wilson(successes, n, z)
    return round(low, 4), round(high, 4)


def newcombe_difference(
    x1: int, n1: int, x2: int, n2: int, z: float = 1.96
) -> tuple[float, float] | None:
    """95 % interval of ``x1/n1 - x2/n2`` by Newcombe's hybrid score method (his method 10,
    1998): the two Wilson intervals combined. Unlike the Wald interval it stays within
    [-1, 1] and keeps its coverage near 0 and 1 and for small groups. ``None`` when either
    group is empty; unrounded (callers round)."""
    if not n1 or not n2:
        return None
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = _wilson(x1, n1, z)
    l2, u2 = _wilson(x2, n2, z)
    d = p1 - p2
    return (
        d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
        d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
    )


#: z of the two-sided 95 % level.
Z_975 = 1.959963984540054


def t_quantile_975(df: float) -> float:
    """The 97.5 % quantile of Student's t with ``df`` degrees of freedom (two-sided 95 %).

    Exact for 1 and 2 degrees of freedom; from 3 on the Cornish-Fisher expansion in 1/df
    (Abramowitz and Stegun 26.7.5), within 0.004 of the tables at 3, 0.0003 at 5 and 1e-4 from 10 on.
    Below 3 the lower whole df is used, which widens the interval (conservative)."""
    if df < 2:
        return 12.706204736174698
    if df < 3:
        return 4.302652729749464
    z = Z_975
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def welch_interval(
    mean1: float, var1: float, n1: int, mean2: float, var2: float, n2: int
) -> tuple[float, float, float | None] | None:
    """95 % Welch interval of ``mean1 - mean2`` from two groups' means and sample variances
    (unequal variances, Welch-Satterthwaite degrees of freedom): ``(low, high, df)``.
    ``None`` when a group has fewer than 2 rows; with no spread at all the interval is the
    difference itself and ``df`` is ``None``."""
    if n1 < 2 or n2 < 2:
        return None
    a, b = var1 / n1, var2 / n2
    d = mean1 - mean2
    if a + b <= 0:
        return d, d, None
    se = math.sqrt(a + b)
    df = (a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n2 - 1))
    half = t_quantile_975(df) * se
    return d - half, d + half, df


def sample_variance(total: float, total_sq: float, n: int) -> float:
    """Sample variance (n - 1 denominator) of ``n`` values from their sum and sum of squares;
    0 for fewer than 2 values (never negative from rounding)."""
    if n < 2:
        return 0.0
    return max(0.0, (total_sq - total * total / n) / (n - 1))
