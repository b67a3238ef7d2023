"""Touch.quantity: an aggregated row carries its count through every write path."""

from decimal import Decimal

import pytest
from django.db import connection

from engagement.models import Touch
from engagement.services import touch_bulk_create
from tests.factories import AccountFactory, TouchFactory

pytestmark = pytest.mark.django_db


def test_bulk_rows_carry_quantities_and_default_to_one():
    acme = AccountFactory(domain="acme.example")
    result = touch_bulk_create(
        [
            {
                "account_domain": "acme.example",
                "kind": "ad_impression",
                "occurred_at": "2024-05-01",
                "quantity": 1200,
                "external_id": "a",
            },
            {
                "account_domain": "acme.example",
                "kind": "ad_click",
                "occurred_at": "2024-05-01",
                "quantity": "3",
                "external_id": "b",
            },
            {
                "account_domain": "acme.example",
                "kind": "web_visit",
                "occurred_at": "2024-05-01",
                "external_id": "c",
            },
            {
                "account_domain": "acme.example",
                "kind": "ad_click",
                "occurred_at": "2024-05-01",
                "quantity": 0,
                "external_id": "d",
            },
            {
                "account_domain": "acme.example",
                "kind": "ad_click",
                "occurred_at": "2024-05-01",
                "quantity": "2.5",
                "external_id": "e",
            },
            {
                "account_domain": "acme.example",
                "kind": "ad_click",
                "occurred_at": "2024-05-01",
                "quantity": True,
                "external_id": "f",
            },
        ],
        source="test",
    )
    assert result.accepted == 3
    assert [(r.index, r.field) for r in result.rejected] == [
        (3, "quantity"),
        (4, "quantity"),
        (5, "quantity"),
    ]
    assert dict(Touch.objects.filter(account=acme).values_list("external_id", "quantity")) == {
        "a": 1200,
        "b": 3,
        "c": 1,
    }


def test_content_key_ignores_quantity():
    """A re-sent aggregated row is the same touch whatever count it carries (first wins)."""
    AccountFactory(domain="acme.example")
    row = {"account_domain": "acme.example", "kind": "ad_impression", "occurred_at": "2024-05-01"}
    assert touch_bulk_create([{**row, "quantity": 10}], source="li").accepted == 1
    again = touch_bulk_create([{**row, "quantity": 12}], source="li")
    assert (again.accepted, again.duplicates) == (0, 1)
    assert Touch.objects.get().quantity == 10


def test_database_default_and_check():
    touch = TouchFactory()
    assert touch.quantity == 1
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO engagement_touch (account_id, kind, channel, direction, occurred_at,"
            " url, asset, funnel_position, engagement_minutes, cost, source, external_id)"
            " VALUES (%s, 'web_visit', '', 'inbound', now(), '', '', '', 0, 0, 's', 'x')"
            " RETURNING quantity",
            [touch.account_id],
        )
        assert cursor.fetchone()[0] == 1
    assert Touch.objects.get(external_id="x").cost == Decimal("0")
