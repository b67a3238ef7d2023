"""Stage 3: target account opportunities."""

from typing import Any

from .base import kpi
from .drills import accounts_where, opportunities_where
from .results import count_result, mean_result, money_ratio_result, ratio_result, sum_result
from .sources import Context


@kpi(
    "opportunity_accounts",
    stage=3,
    label="Opportunity accounts",
    unit="count",
    kind="outcome",
    r="revenue",
    definition="Target accounts with at least one new-business opportunity created in the period.",
    sources=("accounts",),
    drilldown="account",
    drill=accounts_where("opportunity"),
)
def opportunity_accounts(ctx: Context, cohort: str) -> dict[str, Any]:
    return count_result(ctx.get("accounts", cohort)["opportunity"])


@kpi(
    "opportunity_rate",
    stage=3,
    label="Opportunity rate",
    unit="ratio",
    kind="outcome",
    r="revenue",
    definition="Opportunity accounts / target accounts.",
    sources=("accounts",),
)
def opportunity_rate(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("accounts", cohort)
    return ratio_result(m["opportunity"], m["accounts"])


@kpi(
    "buying_committee_size",
    stage=3,
    label="Buying committee size",
    unit="count",
    kind="outcome",
    r="relationship",
    definition="Mean number of known stakeholders (known since the end of the period or "
    "earlier, or with no date) per opportunity account.",
    sources=("accounts",),
)
def buying_committee_size(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("accounts", cohort)
    return mean_result(m["committee"], m["opportunity"])


@kpi(
    "account_penetration",
    stage=3,
    label="Account penetration",
    unit="count",
    kind="outcome",
    r="relationship",
    definition="Mean number of engaged stakeholders (with an engagement touch in the period) "
    "per engaged target account.",
    sources=("accounts",),
)
def account_penetration(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("accounts", cohort)
    return mean_result(m["eng_people"], m["engaged"])


@kpi(
    "target_account_pipeline",
    stage=3,
    label="Target account pipeline",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="Sum of amounts of new-business opportunities of target accounts open at the end "
    "of the period (created by then or with no creation date, and not closed by then).",
    sources=("opportunities",),
)
def target_account_pipeline(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("opportunities", cohort)
    return sum_result(m["open_nb_amount"], m["open_nb_n"])


@kpi(
    "open_opportunities",
    stage=3,
    label="Open opportunities",
    unit="count",
    kind="outcome",
    r="revenue",
    definition="Opportunities of any type of the cohort open at the end of the period.",
    sources=("opportunities",),
    drilldown="opportunity",
    drill=opportunities_where("open"),
)
def open_opportunities(ctx: Context, cohort: str) -> dict[str, Any]:
    return count_result(ctx.get("opportunities", cohort)["open_n"])


@kpi(
    "days_first_touch_to_opportunity",
    stage=3,
    label="Days from first touch to opportunity",
    unit="days",
    kind="outcome",
    r="revenue",
    definition="Mean days from an account's first engagement touch to its first new-business "
    "opportunity, over target accounts whose first opportunity was created in the period "
    "(accounts with no engagement touch on or before that day are left out).",
    sources=("accounts",),
)
def days_first_touch_to_opportunity(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("accounts", cohort)
    return mean_result(m["ftto_sum"], m["ftto_n"])


@kpi(
    "cost_per_opportunity_account",
    stage=3,
    label="Cost per opportunity account",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="ABM spend in the period / opportunity accounts.",
    sources=("accounts", "spend"),
)
def cost_per_opportunity_account(ctx: Context, cohort: str) -> dict[str, Any]:
    return money_ratio_result(
        ctx.get("spend", cohort)["abm"], ctx.get("accounts", cohort)["opportunity"]
    )


@kpi(
    "influenced_pipeline",
    stage=3,
    label="Influenced pipeline",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="Sum of amounts of opportunities (any type) created in the period whose account "
    "had an engagement touch on the creation day or in the 90 days before.",
    sources=("opportunities",),
)
def influenced_pipeline(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("opportunities", cohort)
    return sum_result(m["influenced_amount"], m["influenced_n"])


@kpi(
    "engaged_share_of_tam",
    stage=3,
    label="Engaged share of TAM",
    unit="ratio",
    kind="outcome",
    r="reputation",
    definition="Engaged target accounts / accounts in the total addressable market (ICP fit "
    "grade A or B, whatever their cohort; tier, owner and program filters apply).",
    sources=("accounts",),
)
def engaged_share_of_tam(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("accounts", cohort)
    return ratio_result(m["engaged"], m["tam"])
