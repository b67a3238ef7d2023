"""Invariants of the accounts models: domain normal form, uniqueness and checks.

Each rule is tested twice: model validation (``full_clean``) must answer with
a message that names the field, and a raw write that skips validation must be
refused by the database constraint itself.
"""

import datetime as dt
from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.domains import normalize_domain
from accounts.models import Account, IcpRule, Stakeholder, Tier
from tests.factories import AccountFactory, IcpRuleFactory, StakeholderFactory, TierFactory


@contextmanager
def db_refuses(match: str | None = None):
    """The block must fail in the database; its savepoint keeps the test transaction usable."""
    with pytest.raises(IntegrityError, match=match), transaction.atomic():
        yield


def all_messages(exc: ValidationError) -> list[str]:
    return [m for msgs in exc.message_dict.values() for m in msgs]


# --- normalize_domain --------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("example.com", "example.com"),
        ("Example.COM", "example.com"),
        ("  example.com  ", "example.com"),
        ("www.example.com", "example.com"),
        ("WWW.Example.com", "example.com"),
        ("https://example.com", "example.com"),
        ("http://www.example.com/", "example.com"),
        ("HTTPS://WWW.Example.com/pricing/plans?utm=x#top", "example.com"),
        ("example.com/path", "example.com"),
        ("example.com?q=1", "example.com"),
        ("example.com:8080", "example.com"),
        ("https://www.example.com:443/x", "example.com"),
        ("example.com.", "example.com"),
        ("www.example.com.", "example.com"),
        ("sales@example.com", "example.com"),
        ("shop.example.co.uk", "shop.example.co.uk"),
        ("wwwexample.com", "wwwexample.com"),
        ("", None),
        ("   ", None),
        ("https://", None),
        (None, None),
    ],
)
def test_normalize_domain(raw, expected):
    assert normalize_domain(raw) == expected


# --- Account.domain uniqueness ------------------------------------------------


@pytest.mark.django_db
def test_save_stores_the_normal_form():
    account = AccountFactory(domain="HTTPS://WWW.Acme.com/about")
    account.refresh_from_db()
    assert account.domain == "acme.com"


@pytest.mark.django_db
def test_blank_domain_is_stored_as_null_and_many_accounts_may_have_none():
    first = AccountFactory(domain="  ")
    second = AccountFactory(domain="")
    third = AccountFactory(domain=None)
    assert Account.objects.filter(pk__in=[first.pk, second.pk, third.pk], domain=None).count() == 3


@pytest.mark.django_db
def test_full_clean_rejects_another_spelling_of_an_existing_domain():
    AccountFactory(domain="acme.com")
    duplicate = Account(name="Acme again", domain="https://www.ACME.com/")
    with pytest.raises(ValidationError) as excinfo:
        duplicate.full_clean()
    messages = all_messages(excinfo.value)
    assert "Another account already has this domain." in messages
    assert all("domain" in m for m in messages)
    assert duplicate.domain == "acme.com"  # clean() normalised it before the check


@pytest.mark.django_db
def test_full_clean_accepts_the_account_itself_and_other_domains():
    account = AccountFactory(domain="acme.com")
    account.full_clean()  # editing an account must not collide with itself
    Account(name="Other", domain="acme.org").full_clean()


@pytest.mark.django_db
def test_database_rejects_duplicate_domain_in_another_spelling():
    AccountFactory(domain="acme.com")
    with db_refuses(r"accounts_account_domain_unique|account\.domain"):
        Account.objects.create(name="Acme again", domain="WWW.Acme.COM.")
    assert Account.objects.filter(domain="acme.com").count() == 1


@pytest.mark.django_db
def test_database_rejects_duplicate_domain_even_without_save():
    AccountFactory(domain="acme.com")
    other = AccountFactory(domain="other.com")
    with db_refuses():
        Account.objects.filter(pk=other.pk).update(domain="acme.com")


@pytest.mark.django_db
def test_source_external_id_is_unique_but_blank_ids_do_not_collide():
    AccountFactory(source="hubspot", external_id="42")
    AccountFactory(source="salesforce", external_id="42")
    AccountFactory(source="hubspot", external_id="")
    AccountFactory(source="hubspot", external_id="")
    with pytest.raises(ValidationError) as excinfo:
        Account(name="Dup", domain="dup.com", source="hubspot", external_id="42").full_clean()
    assert "Another account from this source has this external id." in all_messages(excinfo.value)
    with db_refuses():
        AccountFactory(source="hubspot", external_id="42")


# --- Account checks -----------------------------------------------------------


@pytest.mark.django_db
def test_untargeted_before_targeted_is_rejected_by_validation_and_database():
    account = Account(
        name="Acme",
        domain="acme.com",
        targeted_on=dt.date(2024, 3, 1),
        untargeted_on=dt.date(2024, 2, 29),
    )
    with pytest.raises(ValidationError) as excinfo:
        account.full_clean()
    assert excinfo.value.message_dict["__all__"] == [
        "The untargeted date cannot be before the targeted date."
    ]
    with db_refuses("accounts_account_untargeted_after_targeted"):
        account.save()


@pytest.mark.django_db
def test_untargeted_on_the_targeted_day_is_allowed():
    account = Account(
        name="Acme", targeted_on=dt.date(2024, 3, 1), untargeted_on=dt.date(2024, 3, 1)
    )
    account.full_clean()
    account.save()


@pytest.mark.django_db
def test_negative_revenue_is_rejected_by_validation_and_database():
    account = Account(name="Acme", annual_revenue=Decimal("-1.00"))
    with pytest.raises(ValidationError) as excinfo:
        account.full_clean()
    assert list(excinfo.value.message_dict) == ["annual_revenue"]
    with pytest.raises(ValidationError) as excinfo:
        account.validate_constraints()  # the constraint's own message, field check aside
    assert excinfo.value.messages == ["Annual revenue cannot be negative."]
    with db_refuses("accounts_account_revenue_not_negative"):
        account.save()


# --- Stakeholder e-mail -------------------------------------------------------


@pytest.mark.django_db
def test_stakeholder_email_is_unique_per_account():
    existing = StakeholderFactory(email="jane@acme.com")
    duplicate = Stakeholder(account=existing.account, name="Jane again", email="jane@acme.com")
    with pytest.raises(ValidationError) as excinfo:
        duplicate.full_clean()
    assert "A stakeholder with this e-mail is already on the account." in all_messages(
        excinfo.value
    )
    with db_refuses(r"account_email_unique|stakeholder\.account_id"):
        Stakeholder.objects.create(
            account=existing.account, name="Jane again", email="JANE@acme.com "
        )


@pytest.mark.django_db
def test_same_email_on_another_account_and_missing_emails_are_fine():
    existing = StakeholderFactory(email="jane@acme.com")
    other_account = AccountFactory()
    moved = Stakeholder(account=other_account, name="Jane", email="jane@acme.com")
    moved.full_clean()
    moved.save()
    Stakeholder.objects.create(account=existing.account, name="No mail 1", email=None)
    Stakeholder.objects.create(account=existing.account, name="No mail 2", email="  ")
    assert Stakeholder.objects.filter(email="jane@acme.com").count() == 2
    assert existing.account.stakeholders.filter(email=None).count() == 2


@pytest.mark.django_db
def test_invalid_email_names_the_field():
    account = AccountFactory()
    with pytest.raises(ValidationError) as excinfo:
        Stakeholder(account=account, name="X", email="not an e-mail").full_clean()
    assert list(excinfo.value.message_dict) == ["email"]


# --- Tier and ICP rules -------------------------------------------------------


@pytest.mark.django_db
def test_tier_name_and_rank_are_unique():
    TierFactory(name="Tier 1", rank=1)
    with pytest.raises(ValidationError) as excinfo:
        Tier(name="Tier 1", rank=1).full_clean()
    assert set(excinfo.value.message_dict) == {"name", "rank"}
    with db_refuses():
        Tier.objects.create(name="Other", rank=1)


@pytest.mark.django_db
def test_icp_rule_range_must_be_ordered():
    rule = IcpRule(attribute="employees", min_value=500, max_value=100, weight=1)
    with pytest.raises(ValidationError) as excinfo:
        rule.full_clean()
    assert excinfo.value.message_dict["__all__"] == ["The minimum must not exceed the maximum."]
    with db_refuses("accounts_icprule_range_ordered"):
        rule.save()


@pytest.mark.django_db
def test_icp_rule_weight_zero_is_rejected():
    rule = IcpRuleFactory.build(weight=0)
    with pytest.raises(ValidationError) as excinfo:
        rule.full_clean()
    assert list(excinfo.value.message_dict) == ["weight"]
    with db_refuses("accounts_icprule_weight_positive"):
        rule.save()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"attribute": "industry", "values": []}, "values", "List at least one value"),
        ({"attribute": "country", "values": [1, 2]}, "values", "Values must be a list of strings"),
        ({"attribute": "employees"}, "min_value", "Give a minimum, a maximum or both"),
    ],
)
def test_icp_rule_clean_names_the_field(kwargs, field, message):
    with pytest.raises(ValidationError) as excinfo:
        IcpRule(weight=1, **kwargs).full_clean()
    assert message in excinfo.value.message_dict[field][0]
