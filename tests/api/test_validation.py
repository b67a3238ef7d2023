"""Writes go through model validation: constraint violations are 400s naming the field."""

import datetime as dt

import pytest
from django.db import IntegrityError

from abm_site.api_base import integrity_error_detail
from accounts.models import Account
from engagement.models import Touch
from tests.factories import (
    AccountFactory,
    IntentSignalFactory,
    OpportunityFactory,
    ProgramFactory,
    SpendFactory,
    StakeholderFactory,
    TouchFactory,
)

pytestmark = pytest.mark.django_db


def _post(client, url, body):
    response = client.post(url, body, format="json")
    assert response.status_code == 400, response.content
    return response.json()


def test_duplicate_domain_after_normalisation(editor_api):
    AccountFactory(domain="acme.com")
    body = _post(editor_api, "/api/v1/accounts/", {"name": "Acme 2", "domain": "WWW.Acme.com"})
    assert body == {"domain": ["Another account already has this domain."]}


def test_account_dates_and_revenue(editor_api):
    body = _post(
        editor_api,
        "/api/v1/accounts/",
        {"name": "X", "targeted_on": "2024-03-01", "untargeted_on": "2024-02-01"},
    )
    assert body == {"untargeted_on": ["The untargeted date cannot be before the targeted date."]}
    body = _post(editor_api, "/api/v1/accounts/", {"name": "X", "annual_revenue": "-1"})
    assert list(body) == ["annual_revenue"]


def test_partial_update_is_validated_against_the_stored_row(editor_api):
    account = AccountFactory(targeted_on=dt.date(2024, 3, 1))
    response = editor_api.patch(
        f"/api/v1/accounts/{account.pk}/", {"untargeted_on": "2024-01-01"}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == ["untargeted_on"]


def test_stakeholder_email_unique_per_account(editor_api):
    ada = StakeholderFactory(email="ada@acme.com")
    body = _post(
        editor_api,
        "/api/v1/stakeholders/",
        {"account": ada.account_id, "name": "Ada again", "email": "ADA@acme.com"},
    )
    assert body == {"email": ["A stakeholder with this e-mail is already on the account."]}


def test_external_id_unique_per_source(editor_api):
    touch = TouchFactory(source="crm", external_id="t-1")
    body = _post(
        editor_api,
        "/api/v1/touches/",
        {
            "account": touch.account_id,
            "kind": "meeting",
            "occurred_at": "2024-01-01T00:00:00Z",
            "source": "crm",
            "external_id": "t-1",
        },
    )
    assert body == {"external_id": ["A touch from this source with this external id exists."]}


def test_touch_stakeholder_must_belong_to_the_account(editor_api):
    other = StakeholderFactory()
    body = _post(
        editor_api,
        "/api/v1/touches/",
        {
            "account": AccountFactory().pk,
            "stakeholder": other.pk,
            "kind": "meeting",
            "occurred_at": "2024-01-01T00:00:00Z",
        },
    )
    assert list(body) == ["stakeholder"]


def test_unknown_kind_and_missing_account(editor_api):
    body = _post(
        editor_api,
        "/api/v1/touches/",
        {"account": 99999999, "kind": "telepathy", "occurred_at": "2024-01-01T00:00:00Z"},
    )
    assert set(body) == {"account", "kind"}


def test_opportunity_constraints(editor_api):
    account = AccountFactory()
    body = _post(
        editor_api,
        "/api/v1/opportunities/",
        {"account": account.pk, "status": "won", "amount": "10"},
    )
    assert body == {"closed_on": ["A won or lost opportunity needs a closed on date."]}
    body = _post(
        editor_api,
        "/api/v1/opportunities/",
        {
            "account": account.pk,
            "created_on": "2024-03-01",
            "closed_on": "2024-02-01",
            "status": "lost",
        },
    )
    assert body == {"closed_on": ["Closed on cannot be before created on."]}


def test_nps_score_range(editor_api):
    body = _post(
        editor_api,
        "/api/v1/nps-responses/",
        {"account": AccountFactory().pk, "score": 11, "responded_on": "2024-01-01"},
    )
    assert list(body) == ["score"]


def test_intent_signal_unique_and_monday(editor_api):
    signal = IntentSignalFactory(week=dt.date(2024, 1, 15), topic="crm")
    body = _post(
        editor_api,
        "/api/v1/intent-signals/",
        {"account": signal.account_id, "topic": "crm", "score": "3", "week": "2024-01-15"},
    )
    assert body == {"topic": ["This account already has a score for this topic and week."]}
    body = _post(
        editor_api,
        "/api/v1/intent-signals/",
        {"account": signal.account_id, "topic": "x", "score": "3", "week": "2024-01-17"},
    )
    assert list(body) == ["week"]


def test_program_dates_and_unique_name(editor_api):
    ProgramFactory(name="Q1")
    body = _post(editor_api, "/api/v1/programs/", {"name": "Q1"})
    assert list(body) == ["name"]
    body = _post(
        editor_api,
        "/api/v1/programs/",
        {"name": "Q2", "starts_on": "2024-04-01", "ends_on": "2024-03-01"},
    )
    assert body == {"ends_on": ["A program cannot end before it starts."]}


def test_program_with_spend_cannot_be_deleted(editor_api):
    spend = SpendFactory()
    response = editor_api.delete(f"/api/v1/programs/{spend.program_id}/")
    assert response.status_code == 409
    assert "spend" in response.json()["detail"]


def test_integrity_error_maps_to_the_constraint_message(db):
    """A race past validation still names the field and the constraint's message."""
    TouchFactory(source="crm", external_id="t-9")
    account = Account.objects.first()
    with pytest.raises(IntegrityError) as caught:
        Touch.objects.create(
            account=account,
            kind="meeting",
            occurred_at=TouchFactory.build().occurred_at,
            source="crm",
            external_id="t-9",
        )
    assert integrity_error_detail(Touch, caught.value) == {
        "external_id": ["A touch from this source with this external id exists."]
    }


def test_opportunity_factory_is_valid(editor_api):
    """The happy path of the same endpoint, so the 400s above are about the bad field."""
    opportunity = OpportunityFactory()
    response = editor_api.patch(
        f"/api/v1/opportunities/{opportunity.pk}/",
        {"status": "won", "closed_on": "2024-02-01"},
        format="json",
    )
    assert response.status_code == 200
