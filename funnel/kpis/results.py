"""Result fields of each unit (contract: value plus numerator/denominator or count/total)."""

from typing import Any

from .arithmetic import Number, mean, ratio, round_2, round_ratio


def count_result(n: int | None) -> dict[str, Any]:
    n = int(n or 0)
    return {"value": n, "count": n}


def ratio_result(numerator: Number | None, denominator: Number | None) -> dict[str, Any]:
    return {
        "value": round_ratio(ratio(numerator, denominator)),
        "numerator": numerator or 0,
        "denominator": denominator or 0,
    }


def money_ratio_result(money: Number | None, denominator: int | None) -> dict[str, Any]:
    """Money per something (cost per account, CAC): numerator money, denominator a count."""
    return {
        "value": round_2(ratio(money, denominator)),
        "numerator": round_2(money or 0),
        "denominator": int(denominator or 0),
    }


def sum_result(total: Number | None, n: int | None) -> dict[str, Any]:
    """A sum (money, minutes): 0 for no rows; ``count`` = rows summed."""
    return {"value": round_2(total or 0), "count": int(n or 0)}


def mean_result(total: Number | None, n: int | None) -> dict[str, Any]:
    """A mean (money, days, score, count): null for no rows; ``count`` rows, their ``total``."""
    n = int(n or 0)
    return {"value": round_2(mean(total, n)), "count": n, "total": round_2(total or 0)}


def sample_basis(result: dict[str, Any]) -> dict[str, Any]:
    """The sample behind a rate or mean result: ``n`` (a rate's denominator, a mean's row
    count) and, for a rate, its ``numerator``, so a page can show n and an interval."""
    if "denominator" in result:
        return {"n": result["denominator"], "numerator": result["numerator"]}
    return {"n": result.get("count", 0)}
