"""Stage 2: engaged target accounts."""

from typing import Any

from .arithmetic import complement, ratio, round_2, round_ratio
from .base import kpi
from .drills import (
    accounts_where,
    accounts_with_touches,
    accounts_with_view_through,
)
from .results import count_result, money_ratio_result, ratio_result
from .sources import Context


def _touch_count(
    id: str,  # noqa: A002
    label: str,
    definition: str,
    measure: str,
    kind: str = "activity",
    source: str = "touches",
) -> None:
    @kpi(
        id,
        stage=2,
        label=label,
        unit="count",
        kind=kind,
        r="reputation",
        definition=definition,
        sources=(source,),
        drilldown="account",
        drill=(
            accounts_with_view_through(measure)
            if source == "view_through"
            else accounts_with_touches(measure)
        ),
    )
    def count(ctx: Context, cohort: str) -> dict[str, Any]:
        return count_result(ctx.get(source, cohort)[measure])


_touch_count(
    "ad_impressions",
    "Ad impressions",
    "Ad impression touches (web display and email signature banners) of target accounts in "
    "the period.",
    "ad_impressions",
)
_touch_count(
    "ad_clicks", "Ad clicks", "Ad click touches of target accounts in the period.", "ad_clicks"
)


@kpi(
    "ad_click_through_rate",
    stage=2,
    label="Ad click-through rate",
    unit="ratio",
    kind="activity",
    r="reputation",
    definition="Ad clicks / ad impressions of target accounts in the period.",
    sources=("touches",),
)
def ad_click_through_rate(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("touches", cohort)
    return ratio_result(m["ad_clicks"], m["ad_impressions"])


_touch_count(
    "view_through_visits",
    "View-through visits",
    "Web visits in the period by target accounts that saw an ad impression in the 30 days "
    "before the visit and clicked no ad between that impression and the visit.",
    "view_through_visits",
    kind="outcome",
    source="view_through",
)
_touch_count(
    "view_through_conversions",
    "View-through conversions",
    "Form fills and content downloads in the period that follow an ad impression of the "
    "previous 30 days with no ad click in between.",
    "view_through_conversions",
    kind="outcome",
    source="view_through",
)
_touch_count(
    "web_visits",
    "Web visits",
    "Web visit touches (each page view of an identified target account, high-value pages "
    "included) in the period.",
    "web_visits",
)
_touch_count(
    "high_value_page_visits",
    "High-value page visits",
    "Web visits in the period to a high-value page: touches recorded as high-value page "
    "visits, and web visits whose URL matches a registered high-value page pattern.",
    "high_value_page_visits",
)
_touch_count(
    "chat_conversations",
    "Chat conversations",
    "Chat conversation touches of target accounts in the period.",
    "chat_conversations",
)


@kpi(
    "engaged_target_accounts",
    stage=2,
    label="Engaged target accounts",
    unit="count",
    kind="outcome",
    r="reputation",
    definition="Target accounts with at least one engagement touch in the period.",
    sources=("accounts",),
    drilldown="account",
    drill=accounts_where("engaged"),
)
def engaged_target_accounts(ctx: Context, cohort: str) -> dict[str, Any]:
    return count_result(ctx.get("accounts", cohort)["engaged"])


@kpi(
    "engaged_rate",
    stage=2,
    label="Engaged rate",
    unit="ratio",
    kind="outcome",
    r="reputation",
    definition="Engaged target accounts / target accounts.",
    sources=("accounts",),
)
def engaged_rate(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("accounts", cohort)
    return ratio_result(m["engaged"], m["accounts"])


@kpi(
    "unengaged_rate",
    stage=2,
    label="Unengaged rate",
    unit="ratio",
    kind="outcome",
    r="reputation",
    definition="1 - engaged rate: target accounts with no engagement touch in the period / "
    "target accounts (null when there are no target accounts).",
    sources=("accounts",),
)
def unengaged_rate(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("accounts", cohort)
    accounts = m["accounts"] or 0
    return {
        "value": round_ratio(complement(ratio(m["engaged"], accounts))),
        "numerator": accounts - (m["engaged"] or 0),
        "denominator": accounts,
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
    sources=("accounts", "spend"),
)
def cost_per_engaged_account(ctx: Context, cohort: str) -> dict[str, Any]:
    return money_ratio_result(
        ctx.get("spend", cohort)["abm"], ctx.get("accounts", cohort)["engaged"]
    )


@kpi(
    "research_intensity_accounts",
    stage=2,
    label="Research-intensity accounts",
    unit="count",
    kind="outcome",
    r="reputation",
    definition="Target accounts graded 2 or 3 for on-site research at the end of the period: "
    "the strongest of high-value page visits, distinct pages and engagement minutes of the "
    "last 7 days against the weekly mean of the 8 weeks before (floored at 1), graded at "
    "1.5x, 2.5x and 4x.",
    sources=("accounts",),
    drilldown="account",
    drill=accounts_where("researching"),
)
def research_intensity_accounts(ctx: Context, cohort: str) -> dict[str, Any]:
    return count_result(ctx.get("accounts", cohort)["researching"])


@kpi(
    "deanonymization_rate",
    stage=2,
    label="De-anonymization rate",
    unit="ratio",
    kind="outcome",
    r="relationship",
    definition="Of the anonymous web visitors first seen in the period and attributed to target "
    "accounts, the share linked to a known stakeholder by the end of the period.",
    sources=("visitors",),
)
def deanonymization_rate(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("visitors", cohort)
    return ratio_result(m["known"], m["seen"])


def _email_rate(id: str, label: str, measure: str, word: str) -> None:  # noqa: A002
    @kpi(
        id,
        stage=2,
        label=label,
        unit="ratio",
        kind="activity",
        r="relationship",
        definition=f"Email {word} touches / emails sent, both of target accounts in the period "
        f"(touch counts: the data does not link a {word[:-1]} to its email).",
        sources=("touches",),
    )
    def rate(ctx: Context, cohort: str) -> dict[str, Any]:
        m = ctx.get("touches", cohort)
        return ratio_result(m[measure], m["emails_sent"])


_email_rate("email_open_rate", "Email open rate", "email_opens", "opens")
_email_rate("email_click_rate", "Email click rate", "email_clicks", "clicks")
_email_rate("email_reply_rate", "Email reply rate", "email_replies", "replies")


@kpi(
    "content_engagement_minutes",
    stage=2,
    label="Content engagement minutes",
    unit="count",
    kind="activity",
    r="reputation",
    definition="Engagement minutes of target accounts' engagement touches on content (with a "
    "content asset or a funnel position) in the period, also split by funnel position.",
    sources=("touches",),
)
def content_engagement_minutes(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("touches", cohort)
    return {
        "value": round_2(m["minutes"] or 0),
        "count": m["content"] or 0,
        "by_position": {p: round_2(m[f"minutes_{p}"] or 0) for p in ("tofu", "mofu", "bofu")},
    }
