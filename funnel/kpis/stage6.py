"""Stage 6: customer expansion."""

from typing import Any

from .arithmetic import lifespan_years, mean, nps, product, ratio, round_2, round_ratio
from .base import kpi
from .drills import accounts_where
from .results import count_result, mean_result, ratio_result, sum_result
from .sources import Context


@kpi(
    "expansion_accounts",
    stage=6,
    label="Expansion accounts",
    unit="count",
    kind="outcome",
    r="revenue",
    definition="Customers at the end of the period with a won expansion (upsell or cross-sell) "
    "opportunity closed in the period.",
    sources=("accounts",),
    drilldown="account",
    drill=accounts_where("expansion"),
)
def expansion_accounts(ctx: Context, cohort: str) -> dict[str, Any]:
    return count_result(ctx.get("accounts", cohort)["expansion"])


@kpi(
    "expansion_rate",
    stage=6,
    label="Expansion rate",
    unit="ratio",
    kind="outcome",
    r="revenue",
    definition="Expansion accounts / customers at the end of the period.",
    sources=("accounts",),
)
def expansion_rate(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("accounts", cohort)
    return ratio_result(m["expansion"], m["customer"])


@kpi(
    "expansion_revenue",
    stage=6,
    label="Expansion revenue",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="Sum of amounts of won expansion opportunities closed in the period.",
    sources=("opportunities",),
)
def expansion_revenue(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("opportunities", cohort)
    return sum_result(m["won_expansion_amount"], m["won_expansion_n"])


@kpi(
    "annual_contract_value",
    stage=6,
    label="Annual contract value",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="Mean annualised value (amount / (term in months / 12)) of won opportunities of "
    "any type closed in the period.",
    sources=("opportunities",),
)
def annual_contract_value(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("opportunities", cohort)
    return mean_result(m["acv_sum"], m["won_any_n"])


@kpi(
    "total_revenue_won",
    stage=6,
    label="Total revenue won",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="Sum of amounts of all won opportunities (new business, renewal, expansion) "
    "closed in the period.",
    sources=("opportunities",),
)
def total_revenue_won(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("opportunities", cohort)
    return sum_result(m["won_any_amount"], m["won_any_n"])


@kpi(
    "customer_lifetime_value",
    stage=6,
    label="Customer lifetime value",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="Annual contract value x mean customer lifespan in years: 1 / the churn rate "
    "of the 365 days ending with the period (accounts churned in them / accounts that were "
    "customers at any time in them), capped at 10 years.",
    sources=("opportunities", "accounts"),
)
def customer_lifetime_value(ctx: Context, cohort: str) -> dict[str, Any]:
    opps = ctx.get("opportunities", cohort)
    accounts = ctx.get("accounts", cohort)
    acv = mean(opps["acv_sum"], opps["won_any_n"])
    churn = ratio(accounts["churned_12m"], accounts["customer_12m"])
    years = lifespan_years(churn, ctx.params["clv_max_years"])
    return {
        "value": round_2(product(acv, years)),
        "count": opps["won_any_n"] or 0,
        "annual_contract_value": round_2(acv),
        "churn_rate": round_ratio(churn),
        "lifespan_years": round_2(years),
    }


@kpi(
    "net_promoter_score",
    stage=6,
    label="Net promoter score",
    unit="score",
    kind="outcome",
    r="reputation",
    definition="Of NPS responses (0-10) in the period: % promoters (9-10) - % detractors (0-6), "
    "from -100 to 100.",
    sources=("nps",),
)
def net_promoter_score(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("nps", cohort)
    return {
        "value": round_2(nps(m["promoters"], m["detractors"], m["responses"])),
        "count": m["responses"],
        "promoters": m["promoters"],
        "detractors": m["detractors"],
    }


@kpi(
    "total_addressable_market",
    stage=6,
    label="Total addressable market",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="Mean annualised contract value of won opportunities closed by the end of the "
    "period x accounts with ICP fit grade A or B (whatever their cohort).",
    sources=("opportunities", "accounts"),
)
def total_addressable_market(ctx: Context, cohort: str) -> dict[str, Any]:
    opps = ctx.get("opportunities", cohort)
    tam_accounts = ctx.get("accounts", cohort)["tam"] or 0
    acv = mean(opps["acv_to_date_sum"], opps["won_to_date_n"])
    return {
        "value": round_2(product(acv, tam_accounts)),
        "count": tam_accounts,
        "annual_contract_value": round_2(acv),
    }
