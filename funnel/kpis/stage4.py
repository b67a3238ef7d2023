"""Stage 4: new deals won."""

from typing import Any

from funnel.choices import Cohort

from .arithmetic import round_2
from .base import kpi
from .drills import accounts_where, opportunities_where
from .results import count_result, mean_result, money_ratio_result, ratio_result, sum_result
from .sources import Context


@kpi(
    "won_accounts",
    stage=4,
    label="Won accounts",
    unit="count",
    kind="outcome",
    r="revenue",
    definition="Target accounts whose first won new-business opportunity closed in the period.",
    sources=("accounts",),
    drilldown="account",
    drill=accounts_where("won"),
)
def won_accounts(ctx: Context, cohort: str) -> dict[str, Any]:
    return count_result(ctx.get("accounts", cohort)["won"])


@kpi(
    "target_account_win_rate",
    stage=4,
    label="Target account win rate",
    unit="ratio",
    kind="outcome",
    r="revenue",
    definition="Won accounts / target accounts.",
    sources=("accounts",),
)
def target_account_win_rate(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("accounts", cohort)
    return ratio_result(m["won"], m["accounts"])


@kpi(
    "opportunity_win_rate",
    stage=4,
    label="Opportunity win rate",
    unit="ratio",
    kind="outcome",
    r="revenue",
    definition="Won / (won + lost) new-business opportunities of the cohort closed in the period.",
    sources=("opportunities",),
)
def opportunity_win_rate(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("opportunities", cohort)
    return ratio_result(m["won_nb_n"], (m["won_nb_n"] or 0) + (m["lost_nb_n"] or 0))


@kpi(
    "won_opportunities",
    stage=4,
    label="Won opportunities",
    unit="count",
    kind="outcome",
    r="revenue",
    definition="New-business opportunities of the cohort closed won in the period.",
    sources=("opportunities",),
    drilldown="opportunity",
    drill=opportunities_where("won_nb"),
)
def won_opportunities(ctx: Context, cohort: str) -> dict[str, Any]:
    return count_result(ctx.get("opportunities", cohort)["won_nb_n"])


@kpi(
    "lost_opportunities",
    stage=4,
    label="Lost opportunities",
    unit="count",
    kind="outcome",
    r="revenue",
    definition="New-business opportunities of the cohort closed lost in the period.",
    sources=("opportunities",),
    drilldown="opportunity",
    drill=opportunities_where("lost_nb"),
)
def lost_opportunities(ctx: Context, cohort: str) -> dict[str, Any]:
    return count_result(ctx.get("opportunities", cohort)["lost_nb_n"])


@kpi(
    "new_revenue_won",
    stage=4,
    label="New revenue won",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="Sum of amounts of new-business opportunities of the cohort closed won in the "
    "period.",
    sources=("opportunities",),
)
def new_revenue_won(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("opportunities", cohort)
    return sum_result(m["won_nb_amount"], m["won_nb_n"])


@kpi(
    "average_deal_value",
    stage=4,
    label="Average deal value",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="Mean amount of new-business opportunities of the cohort closed won in the period.",
    sources=("opportunities",),
)
def average_deal_value(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("opportunities", cohort)
    return mean_result(m["won_nb_amount"], m["won_nb_n"])


@kpi(
    "sales_cycle_days",
    stage=4,
    label="Sales cycle (days)",
    unit="days",
    kind="outcome",
    r="revenue",
    definition="Mean days from creation to close of new-business opportunities of the cohort "
    "closed won in the period with a known creation date.",
    sources=("opportunities",),
)
def sales_cycle_days(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("opportunities", cohort)
    return mean_result(m["cycle_sum"], m["won_nb_dated_n"])


@kpi(
    "sales_cycle_days_median",
    stage=4,
    label="Sales cycle, median (days)",
    unit="days",
    kind="outcome",
    r="revenue",
    definition="Median days from creation to close of the same opportunities (the mean of the "
    "two middle values for an even count).",
    sources=("opportunities",),
)
def sales_cycle_days_median(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("opportunities", cohort)
    n = m["won_nb_dated_n"] or 0
    return {"value": round_2(m["cycle_median"]) if n else None, "count": n}


@kpi(
    "deal_cycle_days",
    stage=4,
    label="Deal cycle (days)",
    unit="days",
    kind="outcome",
    r="revenue",
    definition="Mean days from an account's first engagement touch to the close of its first "
    "won new-business opportunity, over won accounts (those with no engagement touch by the "
    "close day are left out).",
    sources=("accounts",),
)
def deal_cycle_days(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("accounts", cohort)
    return mean_result(m["deal_sum"], m["deal_n"])


@kpi(
    "touches_per_won_account",
    stage=4,
    label="Touches per won account",
    unit="count",
    kind="activity",
    r="relationship",
    definition="Mean number of touches of any kind on or before the day of the win, over won "
    "accounts.",
    sources=("accounts",),
)
def touches_per_won_account(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("accounts", cohort)
    return mean_result(m["touches_to_win"], m["won"])


@kpi(
    "conversion_rate",
    stage=4,
    label="Conversion rate",
    unit="ratio",
    kind="outcome",
    r="revenue",
    definition="Won new-business opportunities closed in the period / engagement touches in "
    "the period of the accounts that won them.",
    sources=("accounts",),
)
def conversion_rate(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("accounts", cohort)
    return ratio_result(m["winner_opps"], m["winner_touches"])


@kpi(
    "cost_per_won_account",
    stage=4,
    label="Cost per won account",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="ABM spend in the period / won accounts.",
    sources=("accounts", "spend"),
)
def cost_per_won_account(ctx: Context, cohort: str) -> dict[str, Any]:
    return money_ratio_result(ctx.get("spend", cohort)["abm"], ctx.get("accounts", cohort)["won"])


@kpi(
    "customer_acquisition_cost",
    stage=4,
    label="Customer acquisition cost",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="All marketing and sales spend in the period (with or without a program) / new "
    "customers of all cohorts (first won new-business opportunity closed in the period).",
    sources=("accounts", "spend"),
    fixed_cohort=Cohort.ALL,
)
def customer_acquisition_cost(ctx: Context, cohort: str) -> dict[str, Any]:
    return money_ratio_result(
        ctx.get("spend", cohort)["acquisition"], ctx.get("accounts", cohort)["won"]
    )


@kpi(
    "customer_acquisition_cost_full",
    stage=4,
    label="Customer acquisition cost, full",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="Customer acquisition cost with the onboarding and support spend of the period "
    "added to the marketing and sales spend.",
    sources=("accounts", "spend"),
    fixed_cohort=Cohort.ALL,
)
def customer_acquisition_cost_full(ctx: Context, cohort: str) -> dict[str, Any]:
    spend = ctx.get("spend", cohort)
    return money_ratio_result(
        spend["acquisition"] + spend["retention"], ctx.get("accounts", cohort)["won"]
    )
