"""Stage 2 KPIs (engaged target accounts) against hand-built fixtures; period March 2024."""

import datetime as dt

import pytest

from tests.factories import (
    HighValuePageFactory,
    ProgramFactory,
    SpendFactory,
    StakeholderFactory,
    TouchFactory,
    VisitorFactory,
)

from .kpi_fixtures import (
    END,
    D,
    day,
    drill_ids,
    kpi,
    kpis,
    non_target,
    target,
    touch,
    touches,
    when,
)

# KPIS.md definitions version 1 (version 2 changes some of these: test_kpi_version2.py).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("definitions_v1")]


def test_ad_impressions_clicks_and_click_through_rate():
    a = target()
    touches(a, "ad_impression", day(5), 4)
    touch(a, "ad_click", day(6))
    touch(a, "ad_impression", D(2024, 2, 29), hour=23)  # before the period
    b = non_target()  # not in the default abm cohort
    touches(b, "ad_impression", day(5), 5)
    touches(b, "ad_click", day(5), 2)

    items = kpis("ad_impressions", "ad_clicks", "ad_click_through_rate")

    assert items["ad_impressions"]["value"] == 4
    assert items["ad_impressions"]["count"] == 4
    assert items["ad_clicks"]["value"] == 1
    ctr = items["ad_click_through_rate"]
    assert ctr["unit"] == "ratio"
    assert (ctr["numerator"], ctr["denominator"]) == (1, 4)
    assert ctr["value"] == 0.25  # 1 / 4
    assert drill_ids("ad_impressions") == {a.pk}


def test_click_through_rate_without_impressions_is_null_not_zero():
    touch(target(), "ad_click", day(5))  # a click, but 0 impressions
    ctr = kpi("ad_click_through_rate")
    assert ctr["denominator"] == 0
    assert ctr["value"] is None


def test_view_through_visits_and_conversions():
    seen = target()
    touch(seen, "ad_impression", day(1), hour=10)
    touch(seen, "web_visit", day(10))  # 9 days after the impression, no click: counts
    touch(seen, "web_visit", day(12))  # counts too (visits are counted)
    touch(seen, "form_fill", day(11))  # conversion that counts
    clicked = target()
    touch(clicked, "ad_impression", day(1), hour=10)
    touch(clicked, "ad_click", day(5))  # clicked between impression and visit
    touch(clicked, "web_visit", day(10))
    touch(clicked, "content_download", day(10))
    stale = target()
    touch(stale, "ad_impression", D(2024, 1, 15))  # 55 days before the visit: too old
    touch(stale, "web_visit", day(10))
    touch(stale, "form_fill", day(10))
    unseen = target()
    touch(unseen, "web_visit", day(10))  # never saw an ad

    items = kpis("view_through_visits", "view_through_conversions")

    assert items["view_through_visits"]["value"] == 2  # seen's two visits
    assert items["view_through_conversions"]["value"] == 1  # seen's form fill
    assert drill_ids("view_through_visits") == {seen.pk}


def test_web_visits_high_value_page_visits_and_chats():
    HighValuePageFactory(url_pattern="/pricing", label="Pricing")
    a = target()
    for i in range(3):
        touch(a, "web_visit", day(3 + i), url=f"https://vendor.example.com/blog/{i}")
    for i in range(2):
        touch(a, "high_value_page_visit", day(8 + i), url="https://vendor.example.com/pricing")
    touch(a, "chat_conversation", day(9))
    touch(a, "web_visit", D(2024, 4, 1), url="https://vendor.example.com/blog")  # after
    b = non_target()
    touches(b, "web_visit", day(3), 2, url="https://vendor.example.com/pricing")

    items = kpis("web_visits", "high_value_page_visits", "chat_conversations")

    # Reading: a high-value page visit is also a web visit (engagement.choices.WEB_VISIT_KINDS)
    assert items["web_visits"]["value"] == 5  # 3 web_visit + 2 high_value_page_visit
    assert items["high_value_page_visits"]["value"] == 2
    assert items["chat_conversations"]["value"] == 1


def _engagement_world():
    engaged = target()
    touch(engaged, "web_visit", day(5))
    shown_only = target()
    touch(shown_only, "ad_impression", day(5))  # not engagement
    touch(shown_only, "email_sent", day(6))  # not engagement
    engaged_before = target()
    touch(engaged_before, "meeting", D(2024, 2, 28))  # before the period
    taken_off = target(untargeted_on=day(20))  # engaged, but off the list as of to
    touch(taken_off, "form_fill", day(5))
    outsider = non_target()
    touch(outsider, "form_fill", day(5))
    not_yet = target(targeted_on=D(2024, 4, 2))  # targeted after the period
    touch(not_yet, "meeting", day(5))
    return engaged


def test_engaged_target_accounts_and_rates():
    engaged = _engagement_world()

    items = kpis("engaged_target_accounts", "engaged_rate", "unengaged_rate", "target_accounts")

    assert items["target_accounts"]["value"] == 3  # engaged, shown_only, engaged_before
    assert items["engaged_target_accounts"]["value"] == 1
    rate = items["engaged_rate"]
    assert (rate["numerator"], rate["denominator"]) == (1, 3)
    assert rate["value"] == 0.3333  # 1 / 3
    un = items["unengaged_rate"]
    assert un["value"] == 0.6667  # 1 - 1/3
    assert (un["numerator"], un["denominator"]) == (2, 3)
    assert drill_ids("engaged_target_accounts") == {engaged.pk}


def test_engaged_rate_and_unengaged_rate_are_null_without_target_accounts():
    touch(non_target(), "web_visit", day(5))
    items = kpis("engaged_rate", "unengaged_rate")
    assert items["engaged_rate"]["value"] is None
    assert items["engaged_rate"]["denominator"] == 0
    assert items["unengaged_rate"]["value"] is None


def test_cost_per_engaged_account_uses_abm_spend_only():
    program = ProgramFactory()
    for _ in range(2):
        touch(target(), "email_click", day(4))
    target()  # not engaged
    SpendFactory(program=program, spent_on=day(1), amount=300, category="marketing")
    SpendFactory(program=program, spent_on=END, amount=200, category="sales")
    SpendFactory(program=None, spent_on=day(3), amount=1000, category="marketing")  # not ABM
    SpendFactory(program=program, spent_on=day(3), amount=50, category="onboarding")  # not M/S
    SpendFactory(program=program, spent_on=D(2024, 4, 1), amount=400)  # after the period

    item = kpi("cost_per_engaged_account")

    assert item["unit"] == "money"
    # (300 + 200) / 2 engaged target accounts = 250.00
    assert item["value"] == 250.0
    assert (item["numerator"], item["denominator"]) == (500.0, 2)


def test_cost_per_engaged_account_with_none_engaged_is_null():
    target()
    SpendFactory(spent_on=day(3), amount=500)
    item = kpi("cost_per_engaged_account")
    assert item["value"] is None


def test_research_intensity_accounts_counts_grade_2_or_3():
    HighValuePageFactory(url_pattern="/pricing", label="Pricing")
    url = "https://vendor.example.com/pricing"
    baseline_days = [D(2024, 1, 31) + dt.timedelta(weeks=i) for i in range(8)]  # Jan 31..Mar 20

    spike = target()  # 1 visit a week for 8 weeks, then 20 visits to 10 pages in the last week
    for d in baseline_days:
        touch(spike, "high_value_page_visit", d, url=url, engagement_minutes=1)
    for i in range(20):
        TouchFactory(
            account=spike,
            kind="high_value_page_visit",
            occurred_at=when(day(26 + i % 5), 9 + i // 5),
            url=f"{url}/plan-{i % 10}",
            engagement_minutes=5,
        )
    steady = target()  # the same one visit a week, last week included: ratio 1, grade 0
    for d in [*baseline_days, day(28)]:
        touch(steady, "high_value_page_visit", d, url=url, engagement_minutes=1)
    quiet = target()  # baseline activity only
    for d in baseline_days:
        touch(quiet, "high_value_page_visit", d, url=url, engagement_minutes=1)
    outsider = non_target()  # spikes, but not a target account
    for i in range(20):
        touch(outsider, "high_value_page_visit", day(27), url=f"{url}/x{i}", engagement_minutes=5)

    item = kpi("research_intensity_accounts")

    assert item["value"] == 1
    assert drill_ids("research_intensity_accounts") == {spike.pk}


def test_deanonymization_rate():
    a = target()
    b = target()
    outsider = non_target()
    person = StakeholderFactory(account=a)
    late = StakeholderFactory(account=a)
    VisitorFactory(
        account=a, stakeholder=person, first_seen_at=when(day(5)), identified_at=when(day(10))
    )  # known by to
    VisitorFactory(
        account=a, stakeholder=late, first_seen_at=when(day(6)), identified_at=when(D(2024, 4, 5))
    )  # identified only after to
    VisitorFactory(account=a, first_seen_at=when(day(7)))  # still anonymous
    VisitorFactory(account=b, first_seen_at=when(day(8)))  # still anonymous
    VisitorFactory(
        account=a,
        stakeholder=person,
        first_seen_at=when(D(2024, 2, 20)),
        identified_at=when(day(1)),
    )  # first seen before the period
    VisitorFactory(
        account=outsider,
        stakeholder=StakeholderFactory(account=outsider),
        first_seen_at=when(day(5)),
        identified_at=when(day(6)),
    )  # not a target account
    VisitorFactory(account=None, first_seen_at=when(day(5)))  # not attributed

    item = kpi("deanonymization_rate")

    # 1 known / 4 first seen in March for target accounts
    assert (item["numerator"], item["denominator"]) == (1, 4)
    assert item["value"] == 0.25


def test_email_rates():
    a = target()
    touches(a, "email_sent", day(4), 10)
    touches(a, "email_open", day(5), 4)
    touches(a, "email_click", day(5), 2)
    touch(a, "email_reply", day(6))
    touches(a, "email_open", D(2024, 2, 20), 3)  # before the period
    b = non_target()
    touches(b, "email_sent", day(4), 5)
    touches(b, "email_open", day(4), 5)

    items = kpis("email_open_rate", "email_click_rate", "email_reply_rate")

    assert items["email_open_rate"]["value"] == 0.4  # 4 / 10
    assert items["email_click_rate"]["value"] == 0.2  # 2 / 10
    assert items["email_reply_rate"]["value"] == 0.1  # 1 / 10
    assert (items["email_open_rate"]["numerator"], items["email_open_rate"]["denominator"]) == (
        4,
        10,
    )
    assert items["email_reply_rate"]["denominator"] == 10


def test_email_rates_without_emails_sent_are_null():
    touches(target(), "email_open", day(5), 3)
    items = kpis("email_open_rate", "email_click_rate", "email_reply_rate")
    assert [items[k]["value"] for k in items] == [None, None, None]


def test_content_engagement_minutes_total_and_by_position():
    a = target()
    content = [
        ("content_download", day(2), "Guide", "tofu", "10.50"),
        ("web_visit", day(3), "Webinar", "mofu", "20"),
        ("event_attended", day(4), "Demo", "bofu", "30.25"),
        ("content_download", END, "Case study", "bofu", "4"),
        ("content_download", D(2024, 2, 1), "Old", "tofu", "100"),  # before the period
    ]
    for kind, d, asset, position, minutes in content:
        touch(
            a, kind, d, hour=23, asset=asset, funnel_position=position, engagement_minutes=minutes
        )
    b = non_target()  # not a target account
    touch(
        b, "content_download", day(2), asset="Guide", funnel_position="tofu", engagement_minutes=50
    )

    item = kpi("content_engagement_minutes")

    assert item["unit"] == "count"
    assert item["value"] == 64.75  # 10.50 + 20 + 30.25 + 4
    assert item["count"] == 4
    assert item["by_position"] == {"tofu": 10.5, "mofu": 20.0, "bofu": 34.25}  # bofu 30.25 + 4


def test_view_through_at_the_same_instant():
    """An impression is "before" a touch only when strictly earlier; a click at the
    touch's instant is before it; an impression exactly ``days`` earlier counts."""
    same_instant = target()
    touch(same_instant, "ad_impression", day(10))
    touch(same_instant, "web_visit", day(10))  # impression not strictly before: no
    clicked_then = target()
    touch(clicked_then, "ad_impression", day(3))
    touch(clicked_then, "ad_click", day(10))
    touch(clicked_then, "web_visit", day(10))  # click at the visit's instant: no
    click_with_impression = target()
    touch(click_with_impression, "ad_impression", day(3))
    touch(click_with_impression, "ad_click", day(3))
    touch(click_with_impression, "form_fill", day(10))  # clicked that impression: no
    edge = target()
    touch(edge, "ad_impression", day(1))
    touch(edge, "web_visit", day(31))  # exactly 30 days after: counts
    touch(edge, "form_fill", day(31))  # counts

    items = kpis("view_through_visits", "view_through_conversions")

    assert items["view_through_visits"]["value"] == 1
    assert items["view_through_conversions"]["value"] == 1
    assert drill_ids("view_through_visits") == {edge.pk}
