"""Stage 6: customer expansion."""

from typing import Any

from .arithmetic import lifespan_years, mean, nps, product, ratio, round_2, round_ratio
from .base import ESTIMATE, count_kpi, kpi, ratio_parts
from .context import Context
from .results import mean_result, ratio_result, sum_result
from .sources.accounts import (
    churned_12m,
    customer,
    customer_12m,
    customer_at_year_start,
    expansion,
    tam,
)
from .sources.opportunities import (
    AMOUNT,
    ANNUAL_VALUE_MEAN,
    annual_value_new_business_sum,
    annual_value_new_business_to_date_sum,
    annual_value_sum,
    annual_value_to_date_sum,
    detractors,
    nps_responses,
    promoters,
    won_any,
    won_any_amount,
    won_expansion,
    won_expansion_amount,
    won_new_business,
    won_new_business_to_date,
    won_to_date,
)

count_kpi(
    "expansion_accounts",
    expansion,
    stage=6,
    label="Expansion accounts",
    kind="outcome",
    r="revenue",
    definition="Customers at the end of the period with a won expansion (upsell or "
    "cross-sell) opportunity closed in the period.",
)


@kpi(
    "expansion_rate",
    stage=6,
    label="Expansion rate",
    unit="ratio",
    kind="outcome",
    r="revenue",
    definition="Expansion accounts / customers at the end of the period.",
    measures=(expansion, customer),
    drill_parts=ratio_parts(expansion, customer),
)
def expansion_rate(ctx: Context, cohort: str) -> dict[str, Any]:
    return ratio_result(ctx.value(expansion, cohort), ctx.value(customer, cohort))


@kpi(
    "expansion_revenue",
    stage=6,
    label="Expansion revenue",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="Sum of amounts of won expansion opportunities closed in the period.",
    measures=(won_expansion_amount, won_expansion),
    drill=won_expansion,
    figure=AMOUNT,
)
def expansion_revenue(ctx: Context, cohort: str) -> dict[str, Any]:
    return sum_result(ctx.value(won_expansion_amount, cohort), ctx.value(won_expansion, cohort))


@kpi(
    "annual_contract_value",
    stage=6,
    label="Annual contract value",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="Mean annualised value (amount / (term in months / 12)) of won opportunities of "
    "any type closed in the period.",
    measures=(annual_value_sum, won_any),
    drill=won_any,
    figure=ANNUAL_VALUE_MEAN,
)
def annual_contract_value(ctx: Context, cohort: str) -> dict[str, Any]:
    return mean_result(ctx.value(annual_value_sum, cohort), ctx.value(won_any, cohort))


@kpi(
    "total_revenue_won",
    stage=6,
    label="Total revenue won",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="Sum of amounts of all won opportunities (new business, renewal, expansion) "
    "closed in the period.",
    measures=(won_any_amount, won_any),
    drill=won_any,
    figure=AMOUNT,
)
def total_revenue_won(ctx: Context, cohort: str) -> dict[str, Any]:
    return sum_result(ctx.value(won_any_amount, cohort), ctx.value(won_any, cohort))


@kpi(
    "customer_lifetime_value",
    stage=6,
    label="Customer lifetime value",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="Annual contract value x mean customer lifespan in years: 1 / the churn rate "
    "of the 365 days ending with the period (accounts churned in them / accounts that were "
    "customers at any time in them), capped at {clv_max_years} years.",
    measures=(annual_value_sum, won_any, churned_12m, customer_12m),
    no_population=ESTIMATE,
)
def customer_lifetime_value(ctx: Context, cohort: str) -> dict[str, Any]:
    won_n = ctx.value(won_any, cohort)
    acv = mean(ctx.value(annual_value_sum, cohort), won_n)
    churn = ratio(ctx.value(churned_12m, cohort), ctx.value(customer_12m, cohort))
    years = lifespan_years(churn, ctx.params["clv_max_years"])
    return {
        "value": round_2(product(acv, years)),
        "count": won_n or 0,
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
    definition="Of NPS responses (0-10) in the period: % promoters (9-10) - % detractors "
    "(0-6), from -100 to 100.",
    measures=(promoters, detractors, nps_responses),
    drill=nps_responses,
)
def net_promoter_score(ctx: Context, cohort: str) -> dict[str, Any]:
    promoters_n = ctx.value(promoters, cohort)
    detractors_n = ctx.value(detractors, cohort)
    responses = ctx.value(nps_responses, cohort)
    return {
        "value": round_2(nps(promoters_n, detractors_n, responses)),
        "count": responses,
        "promoters": promoters_n,
        "detractors": detractors_n,
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
    measures=(annual_value_to_date_sum, won_to_date, tam),
    no_population=ESTIMATE,
)
def total_addressable_market(ctx: Context, cohort: str) -> dict[str, Any]:
    tam_accounts = ctx.value(tam, cohort) or 0
    acv = mean(ctx.value(annual_value_to_date_sum, cohort), ctx.value(won_to_date, cohort))
    return {
        "value": round_2(product(acv, tam_accounts)),
        "count": tam_accounts,
        "annual_contract_value": round_2(acv),
    }


# --- definitions version 2 ------------------------------------------------------------------


@kpi(
    "annual_contract_value",
    stage=6,
    label="Annual contract value",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="Mean annualised value (amount / (term in months / 12)) of won new-business "
    "opportunities closed in the period (renewals and expansions are in total revenue won "
    "and expansion revenue).",
    measures=(annual_value_new_business_sum, won_new_business),
    drill=won_new_business,
    figure=ANNUAL_VALUE_MEAN,
    generation=2,
)
def annual_contract_value_v2(ctx: Context, cohort: str) -> dict[str, Any]:
    return mean_result(
        ctx.value(annual_value_new_business_sum, cohort), ctx.value(won_new_business, cohort)
    )


@kpi(
    "customer_lifetime_value",
    stage=6,
    label="Customer lifetime value",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="Annual contract value of new business x gross margin ({gross_margin}) x mean "
    "customer lifespan in years: 1 / the annual churn rate (accounts churned in the 365 days "
    "ending with the period / customers at the start of those days), capped at "
    "{clv_max_years} years.",
    measures=(
        annual_value_new_business_sum,
        won_new_business,
        churned_12m,
        customer_at_year_start,
    ),
    no_population=ESTIMATE,
    generation=2,
)
def customer_lifetime_value_v2(ctx: Context, cohort: str) -> dict[str, Any]:
    won_n = ctx.value(won_new_business, cohort)
    acv = mean(ctx.value(annual_value_new_business_sum, cohort), won_n)
    churn = ratio(ctx.value(churned_12m, cohort), ctx.value(customer_at_year_start, cohort))
    years = lifespan_years(churn, ctx.params["clv_max_years"])
    margin = float(ctx.params["gross_margin"])
    return {
        "value": round_2(product(product(acv, years), margin)),
        "count": won_n or 0,
        "annual_contract_value": round_2(acv),
        "churn_rate": round_ratio(churn),
        "lifespan_years": round_2(years),
        "gross_margin": margin,
    }


@kpi(
    "total_addressable_market",
    stage=6,
    label="Addressable market (ICP A/B accounts × ACV)",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="Mean annualised value of won new-business opportunities closed by the end of "
    "the period x accounts with ICP fit grade A or B (whatever their cohort).",
    measures=(annual_value_new_business_to_date_sum, won_new_business_to_date, tam),
    no_population=ESTIMATE,
    generation=2,
)
def total_addressable_market_v2(ctx: Context, cohort: str) -> dict[str, Any]:
    tam_accounts = ctx.value(tam, cohort) or 0
    acv = mean(
        ctx.value(annual_value_new_business_to_date_sum, cohort),
        ctx.value(won_new_business_to_date, cohort),
    )
    return {
        "value": round_2(product(acv, tam_accounts)),
        "count": tam_accounts,
        "annual_contract_value": round_2(acv),
    }
