"""Invariants of the funnel models, checked by validation and by the database."""

import datetime as dt
from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from funnel.models import (
    AccountSnapshot,
    AccountStageChange,
    FunnelSnapshot,
    NpsResponse,
    Opportunity,
    RecomputeRun,
)
from tests.factories import (
    AccountFactory,
    AccountSnapshotFactory,
    AccountStageChangeFactory,
    FunnelSnapshotFactory,
    NpsResponseFactory,
    OpportunityFactory,
)


@contextmanager
def db_refuses(match: str | None = None):
    """The block must fail in the database; its savepoint keeps the test transaction usable."""
    with pytest.raises(IntegrityError, match=match), transaction.atomic():
        yield


def rejected_by_database(instance, constraint: str) -> None:
    """Saving ``instance`` (no validation) must violate ``constraint`` in the database."""
    with db_refuses(constraint):
        instance.save()


# --- NPS ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_nps_score_11_is_rejected_by_validation():
    response = NpsResponseFactory.build(account=AccountFactory(), score=11)
    with pytest.raises(ValidationError) as excinfo:
        response.full_clean()
    assert excinfo.value.message_dict == {
        "score": ["Ensure this value is less than or equal to 10."]
    }
    with pytest.raises(ValidationError) as excinfo:
        response.validate_constraints()
    assert excinfo.value.messages == ["NPS score must be between 0 and 10."]


@pytest.mark.django_db
def test_nps_score_11_is_rejected_by_the_database_check_constraint():
    response = NpsResponseFactory.build(account=AccountFactory(), score=11)
    rejected_by_database(response, "funnel_npsresponse_score_0_10")
    account = AccountFactory()
    with db_refuses("funnel_npsresponse_score_0_10"):
        NpsResponse.objects.bulk_create(
            [NpsResponse(account=account, score=11, responded_on=dt.date(2024, 1, 1))]
        )
    assert NpsResponse.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("score", [0, 10])
def test_nps_scores_0_and_10_are_valid(score):
    response = NpsResponseFactory.build(account=AccountFactory(), score=score)
    response.full_clean()
    response.save()


@pytest.mark.django_db
def test_nps_external_id_is_idempotent_per_source():
    NpsResponseFactory(source="delighted", external_id="r-1")
    NpsResponseFactory(source="delighted", external_id="")
    NpsResponseFactory(source="delighted", external_id="")
    with db_refuses():
        NpsResponseFactory(source="delighted", external_id="r-1")


# --- Opportunities --------------------------------------------------------------------


@pytest.mark.django_db
def test_negative_opportunity_amount_is_rejected():
    opportunity = OpportunityFactory.build(account=AccountFactory(), amount=Decimal("-100"))
    with pytest.raises(ValidationError) as excinfo:
        opportunity.full_clean()
    assert list(excinfo.value.message_dict) == ["amount"]
    with pytest.raises(ValidationError) as excinfo:
        opportunity.validate_constraints()
    assert excinfo.value.messages == ["Amount cannot be negative."]
    rejected_by_database(opportunity, "funnel_opportunity_amount_not_negative")


@pytest.mark.django_db
def test_closed_before_created_is_rejected():
    opportunity = OpportunityFactory.build(
        account=AccountFactory(),
        status="won",
        created_on=dt.date(2024, 3, 1),
        closed_on=dt.date(2024, 2, 1),
    )
    with pytest.raises(ValidationError) as excinfo:
        opportunity.full_clean()
    assert excinfo.value.message_dict == {"__all__": ["Closed on cannot be before created on."]}
    rejected_by_database(opportunity, "funnel_opportunity_closed_after_created")


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["won", "lost"])
def test_won_or_lost_without_closed_on_is_rejected(status):
    opportunity = OpportunityFactory.build(account=AccountFactory(), status=status, closed_on=None)
    with pytest.raises(ValidationError) as excinfo:
        opportunity.full_clean()
    assert excinfo.value.message_dict == {
        "__all__": ["A won or lost opportunity needs a closed on date."]
    }
    rejected_by_database(opportunity, "funnel_opportunity_closed_has_date")


@pytest.mark.django_db
def test_open_opportunity_without_dates_is_valid():
    opportunity = OpportunityFactory.build(
        account=AccountFactory(), status="open", created_on=None, closed_on=None
    )
    opportunity.full_clean()
    opportunity.save()


@pytest.mark.django_db
def test_won_closed_on_the_created_day_is_valid():
    day = dt.date(2024, 3, 1)
    opportunity = OpportunityFactory.build(
        account=AccountFactory(), status="won", created_on=day, closed_on=day
    )
    opportunity.full_clean()
    opportunity.save()


@pytest.mark.django_db
def test_term_of_zero_months_is_rejected():
    opportunity = OpportunityFactory.build(account=AccountFactory(), term_months=0)
    with pytest.raises(ValidationError) as excinfo:
        opportunity.full_clean()
    assert list(excinfo.value.message_dict) == ["term_months"]
    rejected_by_database(opportunity, "funnel_opportunity_term_positive")


@pytest.mark.django_db
def test_contract_end_before_start_is_rejected():
    opportunity = OpportunityFactory.build(
        account=AccountFactory(),
        contract_start=dt.date(2024, 1, 1),
        contract_end=dt.date(2023, 12, 31),
    )
    with pytest.raises(ValidationError) as excinfo:
        opportunity.full_clean()
    assert excinfo.value.message_dict == {
        "__all__": ["Contract end cannot be before contract start."]
    }
    rejected_by_database(opportunity, "funnel_opportunity_contract_end_after_start")


@pytest.mark.django_db
def test_opportunity_external_id_is_idempotent_per_source():
    OpportunityFactory(source="salesforce", external_id="006A")
    OpportunityFactory(source="hubspot", external_id="006A")
    OpportunityFactory(source="salesforce", external_id="")
    OpportunityFactory(source="salesforce", external_id="")
    duplicate = OpportunityFactory.build(
        account=AccountFactory(), source="salesforce", external_id="006A"
    )
    with pytest.raises(ValidationError) as excinfo:
        duplicate.full_clean()
    assert excinfo.value.messages == [
        "An opportunity from this source with this external id exists."
    ]
    with db_refuses():
        duplicate.save()
    assert Opportunity.objects.filter(external_id="006A").count() == 2


# --- Computed rows -----------------------------------------------------------------------


@pytest.mark.django_db
def test_one_stage_change_per_account_and_day_and_it_must_change_the_stage():
    change = AccountStageChangeFactory(changed_on=dt.date(2024, 1, 15))
    again = AccountStageChange(
        account=change.account,
        changed_on=dt.date(2024, 1, 15),
        from_stage="engaged",
        to_stage="opportunity",
    )
    with pytest.raises(ValidationError) as excinfo:
        again.full_clean()
    assert excinfo.value.messages == ["This account already has a stage change on this day."]
    with db_refuses():
        again.save()

    same = AccountStageChange(
        account=change.account,
        changed_on=dt.date(2024, 1, 16),
        from_stage="engaged",
        to_stage="engaged",
    )
    with pytest.raises(ValidationError) as excinfo:
        same.full_clean()
    assert excinfo.value.message_dict == {"__all__": ["A stage change must change the stage."]}
    rejected_by_database(same, "funnel_accountstagechange_stage_differs")


@pytest.mark.django_db
def test_one_account_snapshot_per_day_with_bounded_scores():
    snapshot = AccountSnapshotFactory(date=dt.date(2024, 1, 15))
    with db_refuses():
        AccountSnapshot.objects.create(
            account=snapshot.account, date=dt.date(2024, 1, 15), stage="target"
        )
    counts = {"web_visit": 1}  # an empty JSON dict counts as blank for full_clean
    grade = AccountSnapshot(
        account=snapshot.account,
        date=dt.date(2024, 1, 16),
        stage="target",
        research_grade=4,
        touch_counts=counts,
    )
    with pytest.raises(ValidationError) as excinfo:
        grade.full_clean()
    assert excinfo.value.message_dict == {"__all__": ["Research grade is 0 to 3."]}
    rejected_by_database(grade, "funnel_accountsnapshot_research_grade_0_3")
    score = AccountSnapshot(
        account=snapshot.account,
        date=dt.date(2024, 1, 17),
        stage="target",
        relationship_score=Decimal("100.01"),
        touch_counts=counts,
    )
    with pytest.raises(ValidationError) as excinfo:
        score.full_clean()
    assert excinfo.value.message_dict == {"__all__": ["Relationship score is 0 to 100."]}
    rejected_by_database(score, "funnel_accountsnapshot_relationship_0_100")


@pytest.mark.django_db
def test_one_funnel_snapshot_per_day_window_slice_definitions_and_revision():
    first = FunnelSnapshotFactory(date=dt.date(2024, 1, 15), window_days=90, slice="all")
    FunnelSnapshotFactory(date=dt.date(2024, 1, 15), window_days=30, slice="all")
    FunnelSnapshotFactory(
        date=dt.date(2024, 1, 15), window_days=90, slice="all", revision=2, reason="restated"
    )
    duplicate = FunnelSnapshot(
        date=dt.date(2024, 1, 15),
        window_days=90,
        slice="all",
        definitions=first.definitions,
        kpis={"targets": 1},
    )
    with pytest.raises(ValidationError) as excinfo:
        duplicate.full_clean()
    assert excinfo.value.messages == ["This revision of the snapshot exists."]
    with db_refuses():
        duplicate.save()


@pytest.mark.django_db
def test_recompute_run_defaults_and_str():
    run = RecomputeRun.objects.create(date=dt.date(2024, 1, 15), started_at=timezone.now())
    assert (run.kind, run.status) == ("nightly", "running")
    assert str(run) == "Nightly 2024-01-15 (Running)"
