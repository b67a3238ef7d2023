"""Invariants of the engagement models, checked by validation and by the database."""

import datetime as dt
from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from engagement.models import HighValuePage, IntentSignal, Program, Spend, Touch, Visitor
from tests.factories import (
    AccountFactory,
    HighValuePageFactory,
    IntentSignalFactory,
    ProgramFactory,
    SpendFactory,
    TouchFactory,
    VisitorFactory,
    at,
)

# --- Touch idempotency --------------------------------------------------------


@contextmanager
def db_refuses(match: str | None = None):
    """The block must fail in the database; its savepoint keeps the test transaction usable."""
    with pytest.raises(IntegrityError, match=match), transaction.atomic():
        yield


@pytest.mark.django_db
def test_second_touch_with_the_same_source_and_external_id_is_refused():
    first = TouchFactory(source="segment", external_id="evt-1")
    with db_refuses(r"touch_source_external_id_unique|touch\.source"):
        TouchFactory(account=first.account, source="segment", external_id="evt-1")
    assert Touch.objects.filter(source="segment", external_id="evt-1").count() == 1


@pytest.mark.django_db
def test_bulk_insert_with_ignore_conflicts_keeps_one_touch_per_external_id():
    account = AccountFactory()
    rows = [
        Touch(account=account, kind="web_visit", occurred_at=at(dt.date(2024, 1, 2)),
              source="segment", external_id=f"evt-{i % 3}")
        for i in range(6)
    ]  # fmt: skip
    Touch.objects.bulk_create(rows, ignore_conflicts=True)
    Touch.objects.bulk_create(rows, ignore_conflicts=True)  # a retried request
    assert Touch.objects.filter(source="segment").count() == 3


@pytest.mark.django_db
def test_touch_duplicate_is_reported_by_validation():
    first = TouchFactory(source="segment", external_id="evt-1")
    duplicate = Touch(
        account=first.account,
        kind="web_visit",
        occurred_at=at(dt.date(2024, 1, 2)),
        source="segment",
        external_id="evt-1",
    )
    with pytest.raises(ValidationError) as excinfo:
        duplicate.full_clean()
    assert excinfo.value.messages == ["A touch from this source with this external id exists."]


@pytest.mark.django_db
def test_blank_external_ids_never_collide_and_sources_are_separate():
    account = AccountFactory()
    for _ in range(3):
        TouchFactory(account=account, source="segment", external_id="")
    TouchFactory(account=account, source="segment", external_id="evt-1")
    TouchFactory(account=account, source="hubspot", external_id="evt-1")
    assert Touch.objects.filter(account=account).count() == 5


# --- Touch checks -------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["cost", "engagement_minutes"])
def test_negative_touch_cost_or_minutes_is_rejected(field):
    touch = TouchFactory.build(account=AccountFactory(), **{field: Decimal("-0.01")})
    with pytest.raises(ValidationError) as excinfo:
        touch.full_clean()
    assert list(excinfo.value.message_dict) == [field]
    with pytest.raises(ValidationError) as excinfo:
        touch.validate_constraints()
    assert excinfo.value.messages == ["Engagement minutes and cost cannot be negative."]
    with db_refuses("engagement_touch_minutes_cost_not_negative"):
        touch.save()


@pytest.mark.django_db
def test_unknown_touch_kind_is_rejected():
    touch = TouchFactory.build(account=AccountFactory(), kind="carrier_pigeon")
    with pytest.raises(ValidationError) as excinfo:
        touch.full_clean()
    assert list(excinfo.value.message_dict) == ["kind"]
    with db_refuses("engagement_touch_kind_valid"):
        touch.save()


# --- Program and spend ---------------------------------------------------------


@pytest.mark.django_db
def test_negative_spend_is_rejected_by_validation_and_database():
    spend = SpendFactory.build(program=ProgramFactory(), amount=Decimal("-5.00"))
    with pytest.raises(ValidationError) as excinfo:
        spend.full_clean()
    assert list(excinfo.value.message_dict) == ["amount"]
    with pytest.raises(ValidationError) as excinfo:
        spend.validate_constraints()
    assert excinfo.value.messages == ["Amount cannot be negative."]
    with db_refuses("engagement_spend_amount_not_negative"):
        spend.save()


@pytest.mark.django_db
def test_spend_without_program_is_non_abm_spend():
    spend = Spend(program=None, spent_on=dt.date(2024, 1, 1), amount=Decimal("10"))
    spend.full_clean()
    spend.save()
    assert Spend.objects.filter(program__isnull=True).count() == 1


@pytest.mark.django_db
def test_spend_external_id_is_idempotent_per_source():
    SpendFactory(source="netsuite", external_id="INV-1")
    SpendFactory(source="netsuite", external_id="")
    SpendFactory(source="netsuite", external_id="")
    with db_refuses():
        SpendFactory(source="netsuite", external_id="INV-1")


@pytest.mark.django_db
def test_program_with_negative_budget_or_ending_before_start_is_rejected():
    program = Program(name="Bad", budget=Decimal("-1"))
    with pytest.raises(ValidationError) as excinfo:
        program.full_clean()
    assert list(excinfo.value.message_dict) == ["budget"]
    with db_refuses("engagement_program_budget_not_negative"):
        program.save()

    program = Program(name="Backwards", starts_on=dt.date(2024, 2, 1), ends_on=dt.date(2024, 1, 31))
    with pytest.raises(ValidationError) as excinfo:
        program.full_clean()
    assert excinfo.value.message_dict["__all__"] == ["A program cannot end before it starts."]
    with db_refuses("engagement_program_ends_after_start"):
        program.save()


@pytest.mark.django_db
def test_program_name_is_unique():
    ProgramFactory(name="Q1 ABM")
    with pytest.raises(ValidationError) as excinfo:
        Program(name="Q1 ABM").full_clean()
    assert list(excinfo.value.message_dict) == ["name"]


# --- Visitors, intent, high-value pages ---------------------------------------------


@pytest.mark.django_db
def test_visitor_identified_before_first_seen_is_rejected():
    visitor = VisitorFactory.build(
        first_seen_at=at(dt.date(2024, 1, 10)), identified_at=at(dt.date(2024, 1, 9))
    )
    with pytest.raises(ValidationError) as excinfo:
        visitor.full_clean()
    assert excinfo.value.message_dict["__all__"] == [
        "A visitor cannot be identified before first seen."
    ]
    with db_refuses("engagement_visitor_identified_after_seen"):
        visitor.save()


@pytest.mark.django_db
def test_visitor_anonymous_id_is_unique():
    VisitorFactory(anonymous_id="anon-x")
    with pytest.raises(ValidationError) as excinfo:
        Visitor(anonymous_id="anon-x", first_seen_at=at(dt.date(2024, 1, 1))).full_clean()
    assert list(excinfo.value.message_dict) == ["anonymous_id"]


@pytest.mark.django_db
def test_intent_signal_is_unique_per_account_topic_week_and_source():
    signal = IntentSignalFactory(topic="crm", week=dt.date(2024, 1, 15), source="bombora")
    duplicate = IntentSignal(
        account=signal.account,
        topic="crm",
        week=dt.date(2024, 1, 15),
        source="bombora",
        score=Decimal("3"),
    )
    with pytest.raises(ValidationError) as excinfo:
        duplicate.full_clean()
    assert excinfo.value.messages == ["This account already has a score for this topic and week."]
    with db_refuses():
        duplicate.save()
    IntentSignalFactory(account=signal.account, topic="crm", week=dt.date(2024, 1, 15), source="g2")


@pytest.mark.django_db
def test_negative_intent_score_is_rejected():
    signal = IntentSignalFactory.build(account=AccountFactory(), score=Decimal("-1"))
    with pytest.raises(ValidationError) as excinfo:
        signal.full_clean()
    assert list(excinfo.value.message_dict) == ["score"]
    with db_refuses("engagement_intentsignal_score_not_negative"):
        signal.save()


@pytest.mark.django_db
def test_high_value_page_pattern_is_unique_and_like_pattern_escapes():
    page = HighValuePageFactory(url_pattern="/pricing_*")
    assert page.like_pattern == "%/pricing\\_%%"
    with pytest.raises(ValidationError) as excinfo:
        HighValuePage(url_pattern="/pricing_*", label="Again").full_clean()
    assert list(excinfo.value.message_dict) == ["url_pattern"]
