"""Stage 1 KPIs (target accounts) against hand-built fixtures; period March 2024."""

import datetime as dt

import pytest

from tests.factories import StakeholderFactory, TierFactory

from .kpi_fixtures import (
    END,
    D,
    day,
    drill_ids,
    kpi,
    kpis,
    non_target,
    strong_contact,
    target,
    touch,
    touches,
    weekly_signals,
)

# KPIS.md definitions version 1 (version 2 changes some of these: test_kpi_version2.py).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("definitions_v1")]


def test_target_accounts_uses_the_list_as_of_the_end_of_the_period():
    always = target()
    joined_on_last_day = target(targeted_on=END)  # targeted_on <= to: on the list
    target(targeted_on=END + dt.timedelta(days=1))  # not yet targeted
    target(targeted_on=D(2024, 1, 1), untargeted_on=END)  # untargeted_on must be > to
    off_later = target(targeted_on=D(2024, 1, 1), untargeted_on=END + dt.timedelta(days=1))
    target(untargeted_on=day(15))  # taken off the list during the period
    non_target()  # is_target=False: never on the list
    churned = target(churned_on=day(10))  # churn does not take an account off the list

    item = kpi("target_accounts")

    # always + joined_on_last_day + off_later + churned = 4
    assert item["value"] == 4
    assert item["count"] == 4
    assert item["unit"] == "count"
    assert item["cohort"] == "abm"
    assert drill_ids("target_accounts") == {
        always.pk,
        joined_on_last_day.pk,
        off_later.pk,
        churned.pk,
    }


def test_target_accounts_by_tier_maps_tier_names_and_none():
    strategic = TierFactory(name="Strategic", rank=1)
    scale = TierFactory(name="Scale", rank=2)
    target(tier=strategic)
    target(tier=strategic)
    target(tier=scale)
    target(tier=None)
    target(tier=scale, untargeted_on=day(20))  # off the list as of to
    non_target(tier=None)  # not a target account

    item = kpi("target_accounts_by_tier")

    assert item["unit"] == "map"
    # Strategic 2, Scale 1, untiered 1; total 4
    assert {k: v for k, v in item["value"].items() if v} == {"Strategic": 2, "Scale": 1, "none": 1}
    assert item["count"] == 4


def test_relationship_score_avg_is_the_mean_over_target_accounts():
    hot = target()
    strong_contact(hot, END)  # 10 meetings on the last day -> score 100 (capped)
    cold = target()
    touches(cold, "web_visit", END, 20)  # web visits are not two-way contact -> score 0
    outsider = non_target()
    strong_contact(outsider, END)  # not a target account: left out

    item = kpi("relationship_score_avg")

    # (100 + 0) / 2 = 50.00
    assert item["value"] == 50.0
    assert item["count"] == 2
    assert item["total"] == 100.0
    assert item["unit"] == "score"


def test_relationship_score_weights_decay_and_window():
    mixed = target()
    person = StakeholderFactory(account=mixed)
    touch(mixed, "meeting", END - dt.timedelta(days=30), stakeholder=person)  # 8 x 1/2 = 4
    touch(mixed, "email_reply", END, stakeholder=person)  # 3 x ~1 = 3
    stale = target()
    strong_contact(stale, END - dt.timedelta(days=100))  # outside the 90-day window: 0

    item = kpi("relationship_score_avg")

    # mixed: (4 + 3) / 60 full scale x 100 = 11.67 (a touch at noon is ~half a day older than
    # the end of its day, so allow 0.15); stale: 0 -> mean 5.83
    assert item["value"] == pytest.approx(11.67 / 2, abs=0.08)
    assert item["total"] == pytest.approx(11.67, abs=0.15)
    assert item["count"] == 2


def test_relationship_score_avg_of_no_target_accounts_is_null():
    strong_contact(non_target(), END)
    item = kpi("relationship_score_avg")
    assert item["value"] is None  # mean of no rows
    assert item["count"] == 0


def test_relationship_improving_and_degrading_accounts():
    thirty_days_before = END - dt.timedelta(days=30)  # 2024-03-01
    up = target()
    strong_contact(up, END)  # 0 on Mar 1 -> 100 on Mar 31: +100
    down = target()
    strong_contact(down, thirty_days_before)  # 100 on Mar 1 -> ~66 on Mar 31: about -34
    flat = target()
    strong_contact(flat, thirty_days_before, meetings=20)  # 100 -> 100 (capped both times)
    strong_contact(flat, END, meetings=20)
    target()  # no contact at all: 0 -> 0
    strong_contact(non_target(), END)  # improving, but not a target account

    items = kpis("relationship_improving_accounts", "relationship_degrading_accounts")

    assert items["relationship_improving_accounts"]["value"] == 1
    assert items["relationship_degrading_accounts"]["value"] == 1
    assert drill_ids("relationship_improving_accounts") == {up.pk}
    assert drill_ids("relationship_degrading_accounts") == {down.pk}


def test_intent_surging_accounts_counts_surges_in_the_period():
    baseline_start = D(2024, 1, 8)  # 8 Mondays 2024-01-08 .. 2024-02-26, score 10: mean 10
    surging = target()
    weekly_signals(surging, "analytics", baseline_start, 8, 10)
    weekly_signals(surging, "analytics", D(2024, 3, 4), 1, 30)  # 30 >= 2 x 10: surge
    flat = target()
    weekly_signals(flat, "analytics", baseline_start, 8, 10)
    weekly_signals(flat, "analytics", D(2024, 3, 4), 1, 12)  # 12 < 20: no surge
    flagged = target()
    weekly_signals(flagged, "erp", D(2024, 3, 11), 1, 5, provider_surge=True)  # provider says so
    earlier = target()
    weekly_signals(earlier, "analytics", D(2023, 12, 25), 8, 10)
    weekly_signals(earlier, "analytics", D(2024, 2, 19), 1, 40)  # surge, but in February
    outsider = non_target()
    weekly_signals(outsider, "analytics", baseline_start, 8, 10)
    weekly_signals(outsider, "analytics", D(2024, 3, 4), 1, 30)  # surge, not a target

    item = kpi("intent_surging_accounts")

    # surging + flagged = 2
    assert item["value"] == 2
    assert drill_ids("intent_surging_accounts") == {surging.pk, flagged.pk}


def test_intent_surge_at_exactly_twice_the_baseline_counts():
    account = target()
    weekly_signals(account, "analytics", D(2024, 1, 8), 8, 10)  # mean 10
    weekly_signals(account, "analytics", D(2024, 3, 4), 1, 20)  # "at least twice": 20 >= 2 x 10
    below = target()
    weekly_signals(below, "analytics", D(2024, 1, 8), 8, 10)
    weekly_signals(below, "analytics", D(2024, 3, 4), 1, "19.99")

    assert drill_ids("intent_surging_accounts") == {account.pk}
