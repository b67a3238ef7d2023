"""FilterSets of every resource: exact, ranges, in-lists, search, ordering, bad values."""

import datetime as dt
from decimal import Decimal

import pytest

from tests import factories as f
from tests.factories import at

pytestmark = pytest.mark.django_db


def ids(client, url: str, params: dict) -> list[int]:
    response = client.get(url, params)
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_account_filters(viewer_api):
    tier = f.TierFactory()
    a = f.AccountFactory(name="Acme", domain="acme.com", tier=tier, annual_revenue=Decimal(10))
    b = f.AccountFactory(name="Globex", domain="globex.io", annual_revenue=Decimal(500))
    c = f.AccountFactory(name="Initech", domain="initech.com", is_target=False)
    url = "/api/v1/accounts/"
    assert ids(viewer_api, url, {"q": "ACM"}) == [a.pk]
    assert ids(viewer_api, url, {"q": ".io"}) == [b.pk]
    assert ids(viewer_api, url, {"is_target": "false"}) == [c.pk]
    assert ids(viewer_api, url, {"tier": tier.pk}) == [a.pk]
    assert ids(viewer_api, url, {"annual_revenue_min": 100, "annual_revenue_max": 600}) == [b.pk]
    assert ids(viewer_api, url, {"id__in": f"{a.pk},{c.pk}"}) == [a.pk, c.pk]
    assert ids(viewer_api, url, {"domain__in": "globex.io,initech.com"}) == [b.pk, c.pk]
    assert ids(viewer_api, url, {"ordering": "-name"}) == [c.pk, b.pk, a.pk]


def test_touch_filters(viewer_api):
    program = f.ProgramFactory()
    t1 = f.TouchFactory(kind="meeting", occurred_at=at(dt.date(2024, 3, 1)), cost=5)
    t2 = f.TouchFactory(kind="web_visit", occurred_at=at(dt.date(2024, 3, 10)), program=program)
    t3 = f.TouchFactory(kind="ad_click", occurred_at=at(dt.date(2024, 4, 1)))
    url = "/api/v1/touches/"
    assert ids(viewer_api, url, {"kind": ["meeting", "ad_click"]}) == [t1.pk, t3.pk]
    assert ids(
        viewer_api,
        url,
        {"occurred_at_after": "2024-03-05T00:00:00Z", "occurred_at_before": "2024-03-31T00:00Z"},
    ) == [t2.pk]
    assert ids(viewer_api, url, {"account__in": f"{t1.account_id},{t3.account_id}"}) == [
        t1.pk,
        t3.pk,
    ]
    assert ids(viewer_api, url, {"program": program.pk}) == [t2.pk]
    assert ids(viewer_api, url, {"cost_min": 1}) == [t1.pk]
    assert ids(viewer_api, url, {"q": t2.account.name}) == [t2.pk]
    assert ids(viewer_api, url, {"ordering": "-occurred_at"}) == [t3.pk, t2.pk, t1.pk]


def test_opportunity_filters(viewer_api):
    o1 = f.OpportunityFactory(status="won", closed_on=dt.date(2024, 3, 5), amount=100)
    o2 = f.OpportunityFactory(status="lost", closed_on=dt.date(2024, 5, 5), amount=900)
    o3 = f.OpportunityFactory(status="open", type="renewal", amount=50)
    url = "/api/v1/opportunities/"
    assert ids(viewer_api, url, {"status": ["won", "lost"]}) == [o1.pk, o2.pk]
    assert ids(viewer_api, url, {"type": "renewal"}) == [o3.pk]
    assert ids(
        viewer_api, url, {"closed_on_after": "2024-03-01", "closed_on_before": "2024-03-31"}
    ) == [o1.pk]
    assert ids(viewer_api, url, {"amount_min": 60, "amount_max": 1000}) == [o1.pk, o2.pk]
    assert ids(viewer_api, url, {"ordering": "-amount"}) == [o2.pk, o1.pk, o3.pk]


def test_other_resource_filters(viewer_api):
    abm = f.SpendFactory(category="sales", spent_on=dt.date(2024, 3, 1))
    general = f.SpendFactory(program=None, spent_on=dt.date(2024, 4, 1))
    assert ids(viewer_api, "/api/v1/spend/", {"has_program": "false"}) == [general.pk]
    assert ids(viewer_api, "/api/v1/spend/", {"category": "sales"}) == [abm.pk]
    assert ids(viewer_api, "/api/v1/spend/", {"spent_on_after": "2024-03-15"}) == [general.pk]

    s1 = f.IntentSignalFactory(week=dt.date(2024, 1, 8), score=80, topic="crm")
    s2 = f.IntentSignalFactory(week=dt.date(2024, 2, 5), score=10, topic="erp")
    assert ids(viewer_api, "/api/v1/intent-signals/", {"score_min": 50}) == [s1.pk]
    assert ids(viewer_api, "/api/v1/intent-signals/", {"week_after": "2024-02-01"}) == [s2.pk]
    assert ids(viewer_api, "/api/v1/intent-signals/", {"topic__in": "crm,xyz"}) == [s1.pk]

    n1 = f.NpsResponseFactory(score=3)
    f.NpsResponseFactory(score=10)
    assert ids(viewer_api, "/api/v1/nps-responses/", {"score_max": 6}) == [n1.pk]

    ada = f.StakeholderFactory(name="Ada Lovelace", buying_role="champion")
    f.StakeholderFactory(name="Bob")
    assert ids(viewer_api, "/api/v1/stakeholders/", {"q": "lovelace"}) == [ada.pk]
    assert ids(viewer_api, "/api/v1/stakeholders/", {"buying_role": "champion"}) == [ada.pk]

    known = f.VisitorFactory(account=ada.account, stakeholder=ada)
    f.VisitorFactory()
    assert ids(viewer_api, "/api/v1/visitors/", {"identified": "true"}) == [known.pk]

    p = f.ProgramFactory(name="Spring ABM")
    f.ProgramFactory(name="Other")
    assert ids(viewer_api, "/api/v1/programs/", {"q": "spring"}) == [p.pk]
    assert ids(viewer_api, "/api/v1/tiers/", {"q": "zzz"}) == []

    c1 = f.AccountStageChangeFactory(changed_on=dt.date(2024, 1, 1), to_stage="engaged")
    c2 = f.AccountStageChangeFactory(
        changed_on=dt.date(2024, 2, 1), from_stage="engaged", to_stage="opportunity"
    )
    assert ids(viewer_api, "/api/v1/stage-changes/", {"to_stage": "opportunity"}) == [c2.pk]
    assert ids(viewer_api, "/api/v1/stage-changes/", {"changed_on_before": "2024-01-15"}) == [c1.pk]

    snap = f.AccountSnapshotFactory(stage="engaged", date=dt.date(2024, 3, 1))
    f.AccountSnapshotFactory(stage="target", date=dt.date(2024, 3, 2))
    assert ids(viewer_api, "/api/v1/account-snapshots/", {"stage": "engaged"}) == [snap.pk]

    fs = f.FunnelSnapshotFactory(slice="cohort:abm")
    f.FunnelSnapshotFactory(slice="all")
    assert ids(viewer_api, "/api/v1/funnel-snapshots/", {"slice": "cohort:abm"}) == [fs.pk]


@pytest.mark.parametrize(
    "url,params,name",
    [
        ("/api/v1/accounts/", {"id__in": "1,abc"}, "id__in"),
        ("/api/v1/accounts/", {"targeted_on_after": "03/01/2024x"}, "targeted_on"),
        ("/api/v1/accounts/", {"annual_revenue_min": "lots"}, "annual_revenue"),
        ("/api/v1/accounts/", {"tier": "999999"}, "tier"),
        # Ids no database column can hold (SQLite could not even bind them): found by fuzzing.
        ("/api/v1/accounts/", {"tier": ["1", "211796445548107225910965436416"]}, "tier"),
        ("/api/v1/accounts/", {"tier": "-2319067479"}, "tier"),
        ("/api/v1/accounts/", {"owner__in": "99999999999999999999999"}, "owner__in"),
        ("/api/v1/touches/", {"kind": "telepathy"}, "kind"),
        ("/api/v1/touches/", {"occurred_at_after": "soon"}, "occurred_at"),
        ("/api/v1/touches/", {"account__in": "99999999999999999999999"}, "account__in"),
        ("/api/v1/opportunities/", {"status": "maybe"}, "status"),
        ("/api/v1/spend/", {"amount_max": "NaN"}, "amount"),
        ("/api/v1/stakeholders/", {"q": "a\x00b"}, "q"),
    ],
)
def test_bad_filter_values_are_400_naming_the_filter(viewer_api, url, params, name):
    response = viewer_api.get(url, params)
    assert response.status_code == 400, response.content
    assert name in response.json()


def test_unknown_ordering_field_is_ignored(viewer_api):
    a = f.TierFactory()
    assert ids(viewer_api, "/api/v1/tiers/", {"ordering": "no_such_field"}) == [a.pk]


def test_datetime_bounds_with_extreme_offsets(viewer_api):
    """Offsets PostgreSQL cannot store are normalised to UTC, not sent as they are."""
    touch = f.TouchFactory(occurred_at=at(dt.date(2024, 3, 1)))
    assert ids(viewer_api, "/api/v1/touches/", {"occurred_at_after": "2024-02-29T00:00-23:24"}) == [
        touch.pk
    ]
    assert ids(viewer_api, "/api/v1/touches/", {"occurred_at_after": "2024-03-02T00:00+23:00"}) == [
        touch.pk
    ]
    response = viewer_api.get("/api/v1/touches/", {"occurred_at_after": "0001-01-01T00:00-23:00"})
    assert response.status_code == 200  # 0001-01-01 23:00 UTC is representable
    assert (
        viewer_api.get(
            "/api/v1/touches/", {"occurred_at_after": "0001-01-01T00:00+23:00"}
        ).status_code
        == 400
    )
