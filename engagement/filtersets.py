"""FilterSets of the engagement app, for the API and the pages."""

import django_filters
from django.db.models import Q

from abm_site.api_base import CharInFilter, DateTimeRangeFilter, IdInFilter

from .choices import Direction, FunnelPosition, SpendCategory, TouchKind
from .models import IntentSignal, Program, Spend, Touch, Visitor


def _account_search(queryset, name: str, value: str):
    """``q``: substring of the account's name or domain."""
    value = value.strip()
    if not value:
        return queryset
    return queryset.filter(Q(account__name__icontains=value) | Q(account__domain__icontains=value))


class ProgramFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Search name")
    program_type__in = django_filters.MultipleChoiceFilter(
        field_name="program_type", choices=Program._meta.get_field("program_type").choices
    )
    starts_on = django_filters.DateFromToRangeFilter()
    ends_on = django_filters.DateFromToRangeFilter()
    budget = django_filters.RangeFilter()
    id__in = IdInFilter(field_name="id")
    target_tiers = IdInFilter(field_name="target_tiers", distinct=True, label="Tier ids")

    class Meta:
        model = Program
        fields = ["name", "program_type"]


class SpendFilterSet(django_filters.FilterSet):
    program__in = IdInFilter(field_name="program_id")
    has_program = django_filters.BooleanFilter(
        field_name="program", lookup_expr="isnull", exclude=True, label="ABM spend (has a program)"
    )
    spent_on = django_filters.DateFromToRangeFilter()
    amount = django_filters.RangeFilter()
    category = django_filters.MultipleChoiceFilter(choices=SpendCategory.choices)
    id__in = IdInFilter(field_name="id")

    class Meta:
        model = Spend
        fields = ["program", "channel", "source", "external_id"]


class VisitorFilterSet(django_filters.FilterSet):
    account__in = IdInFilter(field_name="account_id")
    first_seen_at = DateTimeRangeFilter()
    identified_at = DateTimeRangeFilter()
    identified = django_filters.BooleanFilter(
        field_name="stakeholder", lookup_expr="isnull", exclude=True, label="Known contact"
    )
    anonymous_id__in = CharInFilter(field_name="anonymous_id")
    id__in = IdInFilter(field_name="id")

    class Meta:
        model = Visitor
        fields = ["account", "stakeholder", "anonymous_id"]


class TouchFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search account name or domain")
    account__in = IdInFilter(field_name="account_id")
    program__in = IdInFilter(field_name="program_id")
    stakeholder__in = IdInFilter(field_name="stakeholder_id")
    kind = django_filters.MultipleChoiceFilter(choices=TouchKind.choices)
    direction = django_filters.ChoiceFilter(choices=Direction.choices)
    funnel_position = django_filters.MultipleChoiceFilter(choices=FunnelPosition.choices)
    occurred_at = DateTimeRangeFilter()
    engagement_minutes = django_filters.RangeFilter()
    cost = django_filters.RangeFilter()
    external_id__in = CharInFilter(field_name="external_id")
    id__in = IdInFilter(field_name="id")

    class Meta:
        model = Touch
        fields = [
            "account",
            "stakeholder",
            "program",
            "visitor",
            "channel",
            "source",
            "external_id",
        ]

    def search(self, queryset, name, value):
        return _account_search(queryset, name, value)


class IntentSignalFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search topic, account name or domain")
    account__in = IdInFilter(field_name="account_id")
    topic__in = CharInFilter(field_name="topic")
    week = django_filters.DateFromToRangeFilter()
    score = django_filters.RangeFilter()
    id__in = IdInFilter(field_name="id")

    class Meta:
        model = IntentSignal
        fields = ["account", "topic", "is_competitor_topic", "provider_surge", "source"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(topic__icontains=value)
            | Q(account__name__icontains=value)
            | Q(account__domain__icontains=value)
        )
