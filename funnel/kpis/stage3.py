"""Stage 3: target account opportunities."""

from typing import Any

from .arithmetic import ratio, round_2, round_ratio
from .attribution import (
    attributed_pipeline_amount,
    attributed_pipeline_opportunities,
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
)
from .context import Context
from .results import mean_result, money_ratio_result, ratio_result, sum_result
from .sources.accounts import (
    COMMITTEE_MEAN,
    ENGAGED_PEOPLE_MEAN,
    TOUCH_TO_OPPORTUNITY_DAYS,
    accounts,
    committee,
    engaged,
    engaged_in_tam,
    engaged_people,
    first_opportunity_after_touch,
    first_touch_to_opportunity_days,
    opportunity,
    tam,
)
from .sources.opportunities import (
    AMOUNT,
    created_new_business,
    created_new_business_amount,
    influenced,
    influenced_amount,
    open_new_business,
    open_new_business_amount,
    open_opportunities,
)
from .sources.spend import abm_spend

count_kpi(
    "opportunity_accounts",
    opportunity,
    stage=3,
    label="Opportunity accounts",
    kind="outcome",
    r="revenue",
    definition="Target accounts with at least one new-business opportunity created in the period.",
)


@kpi(
    "opportunity_rate",
    stage=3,
    label="Opportunity rate",
    unit="ratio",
    kind="outcome",
    r="revenue",
    definition="Opportunity accounts / target accounts.",
    measures=(opportunity, accounts),
    drill_parts=ratio_parts(opportunity, accounts),
)
def opportunity_rate(ctx: Context, cohort: str) -> dict[str, Any]:
    return ratio_result(ctx.value(opportunity, cohort), ctx.value(accounts, cohort))


@kpi(
    "buying_committee_size",
    stage=3,
    label="Buying committee size",
    unit="count",
    kind="outcome",
    r="relationship",
    definition="Mean number of known stakeholders (known since the end of the period or "
    "earlier, or with no date) per opportunity account.",
    measures=(committee, opportunity),
    drill=opportunity,
    figure=COMMITTEE_MEAN,
)
def buying_committee_size(ctx: Context, cohort: str) -> dict[str, Any]:
    return mean_result(ctx.value(committee, cohort), ctx.value(opportunity, cohort))


@kpi(
    "account_penetration",
    stage=3,
    label="Account penetration",
    unit="count",
    kind="outcome",
    r="relationship",
    definition="Mean number of engaged stakeholders (with an engagement touch in the period) "
    "per engaged target account.",
    measures=(engaged_people, engaged),
    drill=engaged,
    figure=ENGAGED_PEOPLE_MEAN,
)
def account_penetration(ctx: Context, cohort: str) -> dict[str, Any]:
    return mean_result(ctx.value(engaged_people, cohort), ctx.value(engaged, cohort))


@kpi(
    "target_account_pipeline",
    stage=3,
    label="Target account pipeline",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="Sum of amounts of new-business opportunities of target accounts open at the "
    "end of the period (created by then or with no creation date, and not closed by then).",
    measures=(open_new_business_amount, open_new_business),
    drill=open_new_business,
    figure=AMOUNT,
)
def target_account_pipeline(ctx: Context, cohort: str) -> dict[str, Any]:
    return sum_result(
        ctx.value(open_new_business_amount, cohort), ctx.value(open_new_business, cohort)
    )


count_kpi(
    "open_opportunities",
    open_opportunities,
    stage=3,
    label="Open opportunities",
    kind="outcome",
    r="revenue",
    definition="Opportunities of any type of the cohort open at the end of the period.",
)


@kpi(
    "days_first_touch_to_opportunity",
    stage=3,
    label="First touch to opportunity",
    unit="days",
    kind="outcome",
    r="revenue",
    definition="Mean days from an account's first engagement touch to its first new-business "
    "opportunity, over target accounts whose first opportunity was created in the period "
    "(accounts with no engagement touch on or before that day are left out).",
    measures=(first_touch_to_opportunity_days, first_opportunity_after_touch),
    drill=first_opportunity_after_touch,
    figure=TOUCH_TO_OPPORTUNITY_DAYS,
)
def days_first_touch_to_opportunity(ctx: Context, cohort: str) -> dict[str, Any]:
    return mean_result(
        ctx.value(first_touch_to_opportunity_days, cohort),
        ctx.value(first_opportunity_after_touch, cohort),
    )


@kpi(
    "cost_per_opportunity_account",
    stage=3,
    label="Cost per opportunity account",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="ABM spend in the period / opportunity accounts.",
    measures=(abm_spend, opportunity),
    no_population=SPEND_RATIO,
    drill_parts={DENOMINATOR: opportunity},
)
def cost_per_opportunity_account(ctx: Context, cohort: str) -> dict[str, Any]:
    return money_ratio_result(ctx.value(abm_spend, cohort), ctx.value(opportunity, cohort))


@kpi(
    "influenced_pipeline",
    stage=3,
    label="Influenced pipeline",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="Sum of amounts of opportunities (any type) created in the period whose account "
    "had an engagement touch on the creation day or in the {influence_days} days before.",
    measures=(influenced_amount, influenced),
    drill=influenced,
    figure=AMOUNT,
)
def influenced_pipeline(ctx: Context, cohort: str) -> dict[str, Any]:
    return sum_result(ctx.value(influenced_amount, cohort), ctx.value(influenced, cohort))


@kpi(
    "engaged_share_of_tam",
    stage=3,
    label="Engaged share of TAM",
    unit="ratio",
    kind="outcome",
    r="reputation",
    definition="Engaged target accounts / accounts in the total addressable market (ICP fit "
    "grade A or B, whatever their cohort; tier, owner and program filters apply).",
    measures=(engaged, tam),
    drill_parts=ratio_parts(engaged, tam),
)
def engaged_share_of_tam(ctx: Context, cohort: str) -> dict[str, Any]:
    return ratio_result(ctx.value(engaged, cohort), ctx.value(tam, cohort))


# --- definitions version 2 ------------------------------------------------------------------


@kpi(
    "influenced_pipeline",
    stage=3,
    label="Influenced pipeline",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="Sum of amounts of new-business opportunities created in the period whose "
    "account had an engagement touch of a program (a touch that names a program) on the "
    "creation day or in the {influence_days} days before.",
    measures=(influenced_amount, influenced),
    drill=influenced,
    figure=AMOUNT,
    generation=2,
)
def influenced_pipeline_v2(ctx: Context, cohort: str) -> dict[str, Any]:
    return influenced_pipeline(ctx, cohort)


@kpi(
    "influenced_pipeline_share",
    stage=3,
    label="Influenced share of pipeline",
    unit="ratio",
    kind="outcome",
    r="revenue",
    definition="Influenced pipeline / sum of amounts of all new-business opportunities of the "
    "cohort created in the period.",
    measures=(influenced_amount, created_new_business_amount, influenced, created_new_business),
    drill_parts=ratio_parts(influenced, created_new_business),
    generation=2,
)
def influenced_pipeline_share(ctx: Context, cohort: str) -> dict[str, Any]:
    influenced_money = ctx.value(influenced_amount, cohort) or 0
    created_money = ctx.value(created_new_business_amount, cohort) or 0
    return {
        "value": round_ratio(ratio(influenced_money, created_money)),
        "numerator": round_2(influenced_money),
        "denominator": round_2(created_money),
    }


@kpi(
    "engaged_share_of_tam",
    stage=3,
    label="Engaged share of TAM",
    unit="ratio",
    kind="outcome",
    r="reputation",
    definition="Engaged target accounts with ICP fit grade A or B / accounts with fit grade A "
    "or B (whatever their cohort; tier, owner and program filters apply): the numerator is "
    "part of the denominator.",
    measures=(engaged_in_tam, tam),
    drill_parts=ratio_parts(engaged_in_tam, tam),
    generation=2,
)
def engaged_share_of_tam_v2(ctx: Context, cohort: str) -> dict[str, Any]:
    return ratio_result(ctx.value(engaged_in_tam, cohort), ctx.value(tam, cohort))


restate(
    "cost_per_opportunity_account",
    definition="ABM spend in the period / opportunity accounts; spend under a tier or owner "
    "filter is allocated by each program's touches, under a program filter it is that "
    "program's.",
)


# --- multi-touch attribution (issue 14) -----------------------------------------------------


@kpi(
    "attributed_pipeline",
    stage=3,
    label="Attributed pipeline",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="Part of the amounts of new-business opportunities created in the period "
    "credited to programs (under a program filter, to those programs) under the "
    "{attribution_model} attribution model, from the engagement touches of programs on the "
    "account on the creation day or in the {attribution_lookback_days} days before; with the "
    "credit of no program it adds up to the period's pipeline, to the cent.",
    measures=(attributed_pipeline_amount, attributed_pipeline_opportunities),
    no_population=ATTRIBUTED,
    generation=2,
)
def attributed_pipeline(ctx: Context, cohort: str) -> dict[str, Any]:
    amount = ctx.value(attributed_pipeline_amount, cohort)
    if amount is None:  # a database that cannot attribute (SQLite): not zero, unknown
        return unavailable_result()
    return sum_result(amount, ctx.value(attributed_pipeline_opportunities, cohort))


@kpi(
    "cost_per_attributed_opportunity",
    stage=3,
    label="Cost per attributed opportunity",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="ABM spend in the period (under a program filter, those programs') / "
    "new-business opportunities created in the period with a credit to a program (to one of "
    "those programs) under the {attribution_model} attribution model.",
    measures=(abm_spend, attributed_pipeline_opportunities),
    no_population=SPEND_ON_CREDITS,
    generation=2,
)
def cost_per_attributed_opportunity(ctx: Context, cohort: str) -> dict[str, Any]:
    if ctx.value(attributed_pipeline_opportunities, cohort) is None:
        return unavailable_result()
    return money_ratio_result(
        ctx.value(abm_spend, cohort), ctx.value(attributed_pipeline_opportunities, cohort)
    )
