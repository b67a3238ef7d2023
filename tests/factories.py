"""factory_boy factories for every model; sequences keep natural keys unique."""

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from abm_site.models import User
from accounts.models import Account, AccountDomain, AccountList, IcpRule, Owner, Stakeholder, Tier
from activation.models import (
    AlertItem,
    AlertSubscription,
    WebhookDelivery,
    WebhookSubscription,
)
from engagement.models import HighValuePage, IntentSignal, Program, Spend, Touch, Visitor
from events.models import Event
from funnel.definitions import definitions_resolve
from funnel.models import (
    AccountSnapshot,
    AccountStageChange,
    FunnelSnapshot,
    NpsResponse,
    Opportunity,
)


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    """An aware datetime at ``hour`` on ``day`` in the current time zone."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")


class TierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tier
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Tier {n + 1}")
    rank = factory.Sequence(lambda n: n + 1)


class IcpRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IcpRule

    attribute = "industry"
    values = factory.LazyFunction(lambda: ["Software"])
    weight = 1


class OwnerFactory(factory.django.DjangoModelFactory):
    """An account owner; ``user`` links it to a user who signs in (none by default)."""

    class Meta:
        model = Owner

    name = factory.Sequence(lambda n: f"Owner {n}")
    email = factory.Sequence(lambda n: f"owner{n}@example.com")


class AccountFactory(factory.django.DjangoModelFactory):
    """A target account (always on the list unless dates or ``is_target`` say otherwise)."""

    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Account {n}")
    domain = factory.Sequence(lambda n: f"account{n}.example.com")
    industry = "Software"
    employees = 500
    annual_revenue = Decimal("1000000.00")
    country = "United States"
    is_target = True


class AccountListFactory(factory.django.DjangoModelFactory):
    """A static account list (no members until added)."""

    class Meta:
        model = AccountList

    name = factory.Sequence(lambda n: f"List {n}")


class StakeholderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Stakeholder

    account = factory.SubFactory(AccountFactory)
    name = factory.Sequence(lambda n: f"Person {n}")
    email = factory.Sequence(lambda n: f"person{n}@example.com")
    buying_role = "influencer"


class AccountDomainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccountDomain

    account = factory.SubFactory(AccountFactory)
    domain = factory.Sequence(lambda n: f"alias{n}.example.com")


class ProgramFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Program

    name = factory.Sequence(lambda n: f"Program {n}")
    program_type = "one_to_many"
    budget = Decimal("10000.00")


class SpendFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Spend

    program = factory.SubFactory(ProgramFactory)
    spent_on = dt.date(2024, 1, 15)
    amount = Decimal("100.00")
    category = "marketing"


class VisitorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Visitor

    anonymous_id = factory.Sequence(lambda n: f"anon-{n}")
    first_seen_at = factory.LazyFunction(lambda: at(dt.date(2024, 1, 10)))


class TouchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Touch

    account = factory.SubFactory(AccountFactory)
    kind = "web_visit"
    occurred_at = factory.LazyFunction(lambda: at(dt.date(2024, 1, 15)))


class IntentSignalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IntentSignal

    account = factory.SubFactory(AccountFactory)
    topic = "analytics"
    score = Decimal("10")
    week = dt.date(2024, 1, 15)


class HighValuePageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HighValuePage

    url_pattern = factory.Sequence(lambda n: f"/pricing{n}")
    label = "Pricing"


class OpportunityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Opportunity

    account = factory.SubFactory(AccountFactory)
    name = factory.Sequence(lambda n: f"Deal {n}")
    type = "new_business"
    status = "open"
    amount = Decimal("1000.00")
    created_on = dt.date(2024, 1, 1)


class NpsResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NpsResponse

    account = factory.SubFactory(AccountFactory)
    score = 9
    responded_on = dt.date(2024, 1, 15)


class AccountStageChangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccountStageChange

    account = factory.SubFactory(AccountFactory)
    changed_on = dt.date(2024, 1, 15)
    from_stage = "target"
    to_stage = "engaged"


class AccountSnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccountSnapshot

    account = factory.SubFactory(AccountFactory)
    date = dt.date(2024, 1, 15)
    stage = "target"


class FunnelSnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FunnelSnapshot

    date = dt.date(2024, 1, 15)
    window_days = 90
    slice = "all"
    definitions = factory.LazyFunction(lambda: definitions_resolve())
    kpis = factory.LazyFunction(dict)


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    type = "import.finished"
    key = factory.Sequence(lambda n: f"test:{n}")
    payload = factory.LazyFunction(dict)


class WebhookSubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookSubscription

    name = factory.Sequence(lambda n: f"Hook {n}")
    url = "https://hooks.example.com/abm"
    event_types = factory.LazyFunction(lambda: ["account.stage_changed"])


class WebhookDeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookDelivery

    subscription = factory.SubFactory(WebhookSubscriptionFactory)
    event = factory.SubFactory(EventFactory)


class AlertSubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AlertSubscription

    user = factory.SubFactory(UserFactory)
    event_types = factory.LazyFunction(lambda: ["account.stage_changed"])


class AlertItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AlertItem

    subscription = factory.SubFactory(AlertSubscriptionFactory)
    event = factory.SubFactory(EventFactory)
