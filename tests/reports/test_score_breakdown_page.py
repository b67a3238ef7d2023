"""The account page's "How this score is made" tables (issue 20 item 1).

The fixture and hand-computed figures are those of tests/engagement/test_score_breakdown.py:
engagement 49.5, relationship 9.17 (meeting 6.67 + email replies 2.50), research grade 2.
"""

import re

import pytest

from funnel.snapshots import account_snapshots_upsert
from tests.engagement.test_score_breakdown import D, make_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


def section(html: str) -> str:
    match = re.search(r'<section class="card" aria-labelledby="made-h">(.*?)</section>', html, re.S)
    assert match, "no score breakdown section"
    return match.group(1)


def totals(html: str) -> list[str]:
    return re.findall(
        r'<tfoot><tr><th scope="row" colspan="\d">[^<]*</th><td class="num">([^<]*)</td>', html
    )


def test_page_shows_each_score_with_its_parts(viewer_client):
    account = make_account()
    account_snapshots_upsert(D, account.pk, account.pk)
    html = viewer_client.get(
        f"/accounts/{account.pk}/?from=2024-03-01&to=2024-03-31"
    ).content.decode()
    made = section(html)
    assert "How this score is made" in made
    assert "As of the end of Mar 31, 2024" in made
    # the scores shown above the tables, from the snapshot
    shown_engagement = re.search(r"<dt>Engagement</dt><dd>([^ <]*)", html).group(1)
    shown_relationship = re.search(r"<dt>Relationship</dt><dd>([^/<]*)/100", html).group(1)
    shown_research = re.search(r"<dt>Research</dt><dd>([^ <]*)", html).group(1)
    assert (shown_engagement, shown_relationship, shown_research) == (
        "49.5",
        "9.2",
        "2/3",
    )  # scores: one decimal
    # each table's total matches the score shown, formatted alike
    assert totals(made) == [shown_engagement, shown_relationship, shown_research]
    # form fills: 2 x 8, no decay; meeting: 1 x 8 x 0.5 x 100/60 = 6.67
    assert (
        '<td>Form fill</td><td class="num">2</td><td class="num">8</td>'
        '<td class="num">1.000</td><td class="num">16.00</td>'
    ) in made
    assert '<td class="num">0.500</td><td class="num">6.67</td>' in made
    assert '<td class="num">0.250</td><td class="num">2.50</td>' in made
    assert "Engagement minutes" in made and "thresholds 1.5, 2.5, 4.0" in made
    assert "differs from the snapshot" not in made


def test_page_says_when_the_working_no_longer_matches_the_snapshot(viewer_client):
    """A touch imported after the snapshot was written: the engagement table counts it,
    the snapshot does not; the page says so and how to refresh, the others still match."""
    from tests.factories import TouchFactory, at

    account = make_account()
    account_snapshots_upsert(D, account.pk, account.pk)
    TouchFactory(account=account, kind="form_fill", occurred_at=at(D, 9))  # late import
    html = viewer_client.get(
        f"/accounts/{account.pk}/?from=2024-03-01&to=2024-03-31"
    ).content.decode()
    made = section(html)
    assert "The engagement total differs from the snapshot above" in made
    assert "manage.py recompute" in made
    assert totals(made)[0] == "57.5"  # 49.5 + 8


def test_no_snapshot_no_tables(viewer_client):
    account = make_account()
    html = viewer_client.get(
        f"/accounts/{account.pk}/?from=2024-03-01&to=2024-03-31"
    ).content.decode()
    assert "How this score is made" not in html
    assert "No snapshots of this account" in html
