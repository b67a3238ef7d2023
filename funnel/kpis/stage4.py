"""Stage 4: new deals won."""

from typing import Any

from funnel.choices import Cohort

from .arithmetic import ratio, round_2, round_ratio
from .attribution import (
    attributed_revenue_amount,
    attributed_revenue_opportunities,
    unavailable_result,
)
from .base import (
    ATTRIBUTED,
    DENOMINATOR,
    SPEND_ON_CREDITS,
    SPEND_RATIO,
    count_kpi,
    kpi,
    ratio_parts,
    restate,
    spec_for,
)
from .context import Context
from .results import mean_result, money_ratio_result, ratio_result, sum_result
from .sources.accounts import (
    TOUCH_TO_WIN_DAYS,
    TOUCHES_TO_WIN,
    accounts,
    engaged,
    engagement_touches,
    first_touch_to_win_days,
    touches_to_win,
    winner,
    winner_engagement_touches,
    winner_opportunities,
    won,
    won_after_touch,
)
from .sources.opportunities import (
    AMOUNT,
    AMOUNT_MEAN,
    CYCLE_MEAN,
    CYCLE_MEDIAN,
    decided_new_business,
    lost_new_business,
    sales_cycle_median,
    sales_cycle_sum,
    won_new_business,
    won_new_business_amount,
    won_new_business_dated,
)
from .sources.spend import abm_spend, acquisition_spend, retention_spend

count_kpi(
    "won_accounts",
    won,
    stage=4,
    label="Won accounts",
    kind="outcome",
    r="revenue",
    definition="Target accounts whose first won new-business opportunity closed in the period.",
)


@kpi(
    "target_account_win_rate",
    stage=4,
    # A list-penetration rate, not a win rate (KPIS.md version 2 renames it in both).
    label="Target accounts won (share of list)",
    unit="ratio",
    kind="outcome",
    r="revenue",
    definition="Won accounts / target accounts.",
    measures=(won, accounts),
    drill_parts=ratio_parts(won, accounts),
)
def target_account_win_rate(ctx: Context, cohort: str) -> dict[str, Any]:
    return ratio_result(ctx.value(won, cohort), ctx.value(accounts, cohort))


@kpi(
    "opportunity_win_rate",
    stage=4,
    label="Opportunity win rate",
    unit="ratio",
    kind="outcome",
    r="revenue",
    definition="Won / (won + lost) new-business opportunities of the cohort closed in the period.",
    measures=(won_new_business, lost_new_business, decided_new_business),
    drill_parts=ratio_parts(won_new_business, decided_new_business),
)
def opportunity_win_rate(ctx: Context, cohort: str) -> dict[str, Any]:
    won_n = ctx.value(won_new_business, cohort)
    return ratio_result(won_n, (won_n or 0) + (ctx.value(lost_new_business, cohort) or 0))


count_kpi(
    "won_opportunities",
    won_new_business,
    stage=4,
    label="Won opportunities",
    kind="outcome",
    r="revenue",
    definition="New-business opportunities of the cohort closed won in the period.",
)
count_kpi(
    "lost_opportunities",
    lost_new_business,
    stage=4,
    label="Lost opportunities",
    kind="outcome",
    r="revenue",
    definition="New-business opportunities of the cohort closed lost in the period.",
)


@kpi(
    "new_revenue_won",
    stage=4,
    label="New revenue won",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="Sum of amounts of new-business opportunities of the cohort closed won in the "
    "period.",
    measures=(won_new_business_amount, won_new_business),
    drill=won_new_business,
    figure=AMOUNT,
)
def new_revenue_won(ctx: Context, cohort: str) -> dict[str, Any]:
    return sum_result(
        ctx.value(won_new_business_amount, cohort), ctx.value(won_new_business, cohort)
    )


@kpi(
    "average_deal_value",
    stage=4,
    label="Average deal value",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="Mean amount of new-business opportunities of the cohort closed won in the period.",
    measures=(won_new_business_amount, won_new_business),
    drill=won_new_business,
    figure=AMOUNT_MEAN,
)
def average_deal_value(ctx: Context, cohort: str) -> dict[str, Any]:
    return mean_result(
        ctx.value(won_new_business_amount, cohort), ctx.value(won_new_business, cohort)
    )


@kpi(
    "sales_cycle_days",
    stage=4,
    label="Sales cycle",
    unit="days",
    kind="outcome",
    r="revenue",
    definition="Mean days from creation to close of new-business opportunities of the cohort "
    "closed won in the period with a known creation date.",
    measures=(sales_cycle_sum, won_new_business_dated),
    drill=won_new_business_dated,
    figure=CYCLE_MEAN,
)
def sales_cycle_days(ctx: Context, cohort: str) -> dict[str, Any]:
    return mean_result(
        ctx.value(sales_cycle_sum, cohort), ctx.value(won_new_business_dated, cohort)
    )


@kpi(
    "sales_cycle_days_median",
    stage=4,
    label="Sales cycle, median",
    unit="days",
    kind="outcome",
    r="revenue",
    definition="Median days from creation to close of the same opportunities (the mean of the "
    "two middle values for an even count).",
    measures=(sales_cycle_median, won_new_business_dated),
    drill=won_new_business_dated,
    figure=CYCLE_MEDIAN,
)
def sales_cycle_days_median(ctx: Context, cohort: str) -> dict[str, Any]:
    n = ctx.value(won_new_business_dated, cohort) or 0
    return {"value": round_2(ctx.value(sales_cycle_median, cohort)) if n else None, "count": n}


@kpi(
    "deal_cycle_days",
    stage=4,
    label="Deal cycle",
    unit="days",
    kind="outcome",
    r="revenue",
    definition="Mean days from an account's first engagement touch to the close of its first "
    "won new-business opportunity, over won accounts (those with no engagement touch by the "
    "close day are left out).",
    measures=(first_touch_to_win_days, won_after_touch),
    drill=won_after_touch,
    figure=TOUCH_TO_WIN_DAYS,
)
def deal_cycle_days(ctx: Context, cohort: str) -> dict[str, Any]:
    return mean_result(
        ctx.value(first_touch_to_win_days, cohort), ctx.value(won_after_touch, cohort)
    )


@kpi(
    "touches_per_won_account",
    stage=4,
    label="Touches per won account",
    unit="count",
    kind="activity",
    r="relationship",
    definition="Mean number of touches of any kind on or before the day of the win, over won "
    "accounts.",
    measures=(touches_to_win, won),
    drill=won,
    figure=TOUCHES_TO_WIN,
)
def touches_per_won_account(ctx: Context, cohort: str) -> dict[str, Any]:
    return mean_result(ctx.value(touches_to_win, cohort), ctx.value(won, cohort))


@kpi(
    "conversion_rate",
    stage=4,
    label="Conversion rate",
    unit="ratio",
    kind="outcome",
    r="revenue",
    definition="Won new-business opportunities closed in the period / engagement touches in "
    "the period of the accounts that won them.",
    measures=(winner_opportunities, winner_engagement_touches, winner),
    drill=winner,
)
def conversion_rate(ctx: Context, cohort: str) -> dict[str, Any]:
    return ratio_result(
        ctx.value(winner_opportunities, cohort), ctx.value(winner_engagement_touches, cohort)
    )


@kpi(
    "cost_per_won_account",
    stage=4,
    label="Cost per won account",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="ABM spend in the period / won accounts.",
    measures=(abm_spend, won),
    no_population=SPEND_RATIO,
    drill_parts={DENOMINATOR: won},
)
def cost_per_won_account(ctx: Context, cohort: str) -> dict[str, Any]:
    return money_ratio_result(ctx.value(abm_spend, cohort), ctx.value(won, cohort))


@kpi(
    "customer_acquisition_cost",
    stage=4,
    label="Customer acquisition cost",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="All marketing and sales spend in the period (with or without a program) / new "
    "customers of all cohorts (first won new-business opportunity closed in the period).",
    measures=(acquisition_spend, won),
    no_population=SPEND_RATIO,
    drill_parts={DENOMINATOR: won},
    fixed_cohort=Cohort.ALL,
)
def customer_acquisition_cost(ctx: Context, cohort: str) -> dict[str, Any]:
    return money_ratio_result(ctx.value(acquisition_spend, cohort), ctx.value(won, cohort))


@kpi(
    "customer_acquisition_cost_full",
    stage=4,
    label="Customer acquisition cost, full",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="Customer acquisition cost with the onboarding and support spend of the period "
    "added to the marketing and sales spend.",
    measures=(acquisition_spend, retention_spend, won),
    no_population=SPEND_RATIO,
    drill_parts={DENOMINATOR: won},
    fixed_cohort=Cohort.ALL,
)
def customer_acquisition_cost_full(ctx: Context, cohort: str) -> dict[str, Any]:
    spend = ctx.value(acquisition_spend, cohort) + ctx.value(retention_spend, cohort)
    return money_ratio_result(spend, ctx.value(won, cohort))


# --- definitions version 2 ------------------------------------------------------------------


@kpi(
    "conversion_rate",
    stage=4,
    label="Conversion rate",
    unit="ratio",
    kind="outcome",
    r="revenue",
    definition="Won new-business opportunities of the cohort closed in the period / engagement "
    "touches in the period of all engaged accounts of the cohort (quantities summed).",
    measures=(won_new_business, engagement_touches, engaged),
    drill_parts=ratio_parts(won_new_business, engaged),
    generation=2,
)
def conversion_rate_v2(ctx: Context, cohort: str) -> dict[str, Any]:
    return ratio_result(ctx.value(won_new_business, cohort), ctx.value(engagement_touches, cohort))


restate(
    "touches_per_won_account",
    definition="Mean number of touches of any kind on or before the day of the win, over won "
    "accounts (quantities summed).",
)
_V2_SPEND = (
    " Spend under a tier or owner filter is each program's spend allocated to the slice's "
    "accounts by their share of its touches in the period (spend without a program belongs "
    "to no slice); under a program filter, that program's spend."
)
for _id in ("cost_per_won_account", "customer_acquisition_cost", "customer_acquisition_cost_full"):
    restate(_id, definition=spec_for(_id, 1).definition_template + _V2_SPEND)


# --- multi-touch attribution (issue 14) -----------------------------------------------------


@kpi(
    "attributed_revenue",
    stage=4,
    label="Attributed revenue",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="Part of the amounts of new-business opportunities closed won in the period "
    "credited to programs (under a program filter, to those programs) under the "
    "{attribution_model} attribution model, from the engagement touches of programs on the "
    "account on the close day or in the {attribution_lookback_days} days before; with the "
    "credit of no program it adds up to new revenue won, to the cent.",
    measures=(attributed_revenue_amount, attributed_revenue_opportunities),
    no_population=ATTRIBUTED,
    generation=2,
)
def attributed_revenue(ctx: Context, cohort: str) -> dict[str, Any]:
    amount = ctx.value(attributed_revenue_amount, cohort)
    if amount is None:  # a database that cannot attribute (SQLite): not zero, unknown
        return unavailable_result()
    return sum_result(amount, ctx.value(attributed_revenue_opportunities, cohort))


@kpi(
    "attribution_roi",
    stage=4,
    label="Attributed return on spend",
    unit="ratio",
    kind="outcome",
    r="revenue",
    definition="Attributed revenue / ABM spend in the period (under a program filter, those "
    "programs').",
    measures=(attributed_revenue_amount, abm_spend),
    no_population=SPEND_ON_CREDITS,
    generation=2,
)
def attribution_roi(ctx: Context, cohort: str) -> dict[str, Any]:
    revenue = ctx.value(attributed_revenue_amount, cohort)
    if revenue is None:  # a database that cannot attribute: unknown, not a return of 0
        return unavailable_result()
    spend = ctx.value(abm_spend, cohort) or 0
    return {
        "value": round_ratio(ratio(revenue, spend)),
        "numerator": round_2(revenue),
        "denominator": round_2(spend),
    }
