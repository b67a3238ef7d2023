"""Stage 2: engaged target accounts."""

from typing import Any

from .arithmetic import complement, ratio, round_2, round_ratio
from .base import DENOMINATOR, SPEND_RATIO, count_kpi, kpi, ratio_parts, restate, spec_for
from .context import Context
from .results import money_ratio_result, ratio_result
from .sources.accounts import (
    accounts,
    engaged,
    program_engaged,
    program_reached,
    researching,
    unengaged,
)
from .sources.spend import abm_spend
from .sources.touches import (
    CONTENT_MINUTES,
    ad_clicks,
    ad_impressions,
    chat_conversations,
    content,
    content_minutes,
    content_minutes_by_position,
    email_clicks,
    email_opens,
    email_replies,
    emails_sent,
    high_value_page_visits,
    view_through_conversions,
    view_through_visits,
    visitors_known,
    visitors_seen,
    web_visits,
)

count_kpi(
    "ad_impressions",
    ad_impressions,
    stage=2,
    label="Ad impressions",
    kind="activity",
    r="reputation",
    definition="Ad impression touches (web display and email signature banners) of target "
    "accounts in the period.",
)
count_kpi(
    "ad_clicks",
    ad_clicks,
    stage=2,
    label="Ad clicks",
    kind="activity",
    r="reputation",
    definition="Ad click touches of target accounts in the period.",
)


@kpi(
    "ad_click_through_rate",
    stage=2,
    label="Ad click-through rate",
    unit="ratio",
    kind="activity",
    r="reputation",
    definition="Ad clicks / ad impressions of target accounts in the period.",
    measures=(ad_clicks, ad_impressions),
    drill_parts=ratio_parts(ad_clicks, ad_impressions),
)
def ad_click_through_rate(ctx: Context, cohort: str) -> dict[str, Any]:
    return ratio_result(ctx.value(ad_clicks, cohort), ctx.value(ad_impressions, cohort))


count_kpi(
    "view_through_visits",
    view_through_visits,
    stage=2,
    label="View-through visits",
    kind="outcome",
    r="reputation",
    definition="Web visits in the period by target accounts that saw an ad impression in the "
    "{view_through_days} days before the visit and clicked no ad between that impression and "
    "the visit.",
)
count_kpi(
    "view_through_conversions",
    view_through_conversions,
    stage=2,
    label="View-through conversions",
    kind="outcome",
    r="reputation",
    definition="Form fills and content downloads in the period that follow an ad impression "
    "of the previous {view_through_days} days with no ad click in between.",
)
count_kpi(
    "web_visits",
    web_visits,
    stage=2,
    label="Web visits",
    kind="activity",
    r="reputation",
    definition="Web visit touches (each page view of an identified target account, high-value "
    "pages included) in the period.",
)
count_kpi(
    "high_value_page_visits",
    high_value_page_visits,
    stage=2,
    label="High-value page visits",
    kind="activity",
    r="reputation",
    definition="Web visits in the period to a high-value page: touches recorded as high-value "
    "page visits, and web visits whose URL matches a registered high-value page pattern.",
)
count_kpi(
    "chat_conversations",
    chat_conversations,
    stage=2,
    label="Chat conversations",
    kind="activity",
    r="reputation",
    definition="Chat conversation touches of target accounts in the period.",
)
count_kpi(
    "engaged_target_accounts",
    engaged,
    stage=2,
    label="Engaged target accounts",
    kind="outcome",
    r="reputation",
    definition="Target accounts with at least one engagement touch in the period.",
)


@kpi(
    "engaged_rate",
    stage=2,
    label="Engaged rate",
    unit="ratio",
    kind="outcome",
    r="reputation",
    definition="Engaged target accounts / target accounts.",
    measures=(engaged, accounts),
    drill_parts=ratio_parts(engaged, accounts),
)
def engaged_rate(ctx: Context, cohort: str) -> dict[str, Any]:
    return ratio_result(ctx.value(engaged, cohort), ctx.value(accounts, cohort))


@kpi(
    "unengaged_rate",
    stage=2,
    label="Unengaged rate",
    unit="ratio",
    kind="outcome",
    r="reputation",
    definition="1 - engaged rate: target accounts with no engagement touch in the period / "
    "target accounts (null when there are no target accounts).",
    measures=(engaged, accounts, unengaged),
    drill_parts=ratio_parts(unengaged, accounts),
)
def unengaged_rate(ctx: Context, cohort: str) -> dict[str, Any]:
    total = ctx.value(accounts, cohort) or 0
    engaged_n = ctx.value(engaged, cohort)
    return {
        "value": round_ratio(complement(ratio(engaged_n, total))),
        "numerator": total - (engaged_n or 0),
        "denominator": total,
    }


@kpi(
    "cost_per_engaged_account",
    stage=2,
    label="Cost per engaged account",
    unit="money",
    kind="outcome",
    r="revenue",
    definition="ABM spend in the period (marketing and sales spend of programs) / engaged "
    "target accounts.",
    measures=(abm_spend, engaged),
    no_population=SPEND_RATIO,
    drill_parts={DENOMINATOR: engaged},
)
def cost_per_engaged_account(ctx: Context, cohort: str) -> dict[str, Any]:
    return money_ratio_result(ctx.value(abm_spend, cohort), ctx.value(engaged, cohort))


count_kpi(
    "research_intensity_accounts",
    researching,
    stage=2,
    label="Research-intensity accounts",
    kind="outcome",
    r="reputation",
    definition="Target accounts graded 2 or 3 for on-site research at the end of the period: "
    "the strongest of high-value page visits, distinct pages and engagement minutes of the "
    "last {research_recent_days} days against the weekly mean of the "
    "{research_baseline_weeks} weeks before (floored at 1), graded at {research_thresholds}.",
)


@kpi(
    "deanonymization_rate",
    stage=2,
    label="De-anonymization rate",
    unit="ratio",
    kind="outcome",
    r="relationship",
    definition="Of the anonymous web visitors first seen in the period and attributed to target "
    "accounts, the share linked to a known stakeholder by the end of the period.",
    measures=(visitors_known, visitors_seen),
    drill_parts=ratio_parts(visitors_known, visitors_seen),
)
def deanonymization_rate(ctx: Context, cohort: str) -> dict[str, Any]:
    return ratio_result(ctx.value(visitors_known, cohort), ctx.value(visitors_seen, cohort))


def _email_rate(id: str, label: str, measure, word: str) -> None:  # noqa: A002
    @kpi(
        id,
        stage=2,
        label=label,
        unit="ratio",
        kind="activity",
        r="relationship",
        definition=f"Email {word} touches / emails sent, both of target accounts in the period "
        f"(touch counts: the data does not link a {word[:-1]} to its email).",
        measures=(measure, emails_sent),
        drill_parts=ratio_parts(measure, emails_sent),
    )
    def rate(ctx: Context, cohort: str) -> dict[str, Any]:
        return ratio_result(ctx.value(measure, cohort), ctx.value(emails_sent, cohort))


_email_rate("email_open_rate", "Email open rate", email_opens, "opens")
_email_rate("email_click_rate", "Email click rate", email_clicks, "clicks")
_email_rate("email_reply_rate", "Email reply rate", email_replies, "replies")


@kpi(
    "content_engagement_minutes",
    stage=2,
    label="Content engagement minutes",
    unit="count",
    kind="activity",
    r="reputation",
    definition="Engagement minutes of target accounts' engagement touches on content (with a "
    "content asset or a funnel position) in the period, also split by funnel position.",
    measures=(content_minutes, content, *content_minutes_by_position.values()),
    drill=content,
    figure=CONTENT_MINUTES,
)
def content_engagement_minutes(ctx: Context, cohort: str) -> dict[str, Any]:
    return {
        "value": round_2(ctx.value(content_minutes, cohort) or 0),
        "count": ctx.value(content, cohort) or 0,
        "by_position": {
            p: round_2(ctx.value(m, cohort) or 0) for p, m in content_minutes_by_position.items()
        },
    }


# --- definitions version 2 ------------------------------------------------------------------
# Touch counts sum the touches' quantities and, under a program filter, count that
# program's touches only (KPIS.md "Definitions version 2"); the sources apply both rules by
# generation, so these KPIs keep their functions and say what changed.

V2_TOUCHES = (
    " Quantities are summed (an aggregated row counts as many touches); under a program "
    "filter only that program's touches count."
)
for _id in (
    "ad_impressions",
    "ad_clicks",
    "ad_click_through_rate",
    "view_through_visits",
    "view_through_conversions",
    "web_visits",
    "high_value_page_visits",
    "chat_conversations",
    "email_open_rate",
    "email_click_rate",
    "email_reply_rate",
    "content_engagement_minutes",
):
    restate(_id, definition=spec_for(_id, 1).definition_template + V2_TOUCHES)

restate(
    "deanonymization_rate",
    definition="Of the anonymous web visitors first seen in the period and attributed to "
    "target accounts, the share identified as a known stakeholder on or before the end of "
    "the period (a link without an identification date does not count).",
)
restate(
    "cost_per_engaged_account",
    definition="ABM spend in the period (marketing and sales spend of programs) / engaged "
    "target accounts. With a tier or owner filter, each program's spend is allocated to "
    "accounts in proportion to its touches on them in the period and the slice gets its "
    "accounts' share; under a program filter, that program's spend.",
)


# --- multi-touch attribution (issue 14), definitions version 2 --------------------------------

count_kpi(
    "program_reached_accounts",
    program_reached,
    stage=2,
    label="Program-reached accounts",
    kind="activity",
    r="reputation",
    definition="Target accounts with a touch of any kind of a program in the period; under a "
    "program filter, of those programs (the filter picks the programs; it does not narrow the "
    "accounts to those the programs engaged).",
    generation=2,
)
count_kpi(
    "program_engaged_accounts",
    program_engaged,
    stage=2,
    label="Program-engaged accounts",
    kind="outcome",
    r="relationship",
    definition="Target accounts with an engagement touch of a program in the period; under a "
    "program filter, of those programs.",
    generation=2,
)
