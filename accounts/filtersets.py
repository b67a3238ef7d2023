"""FilterSets shared by the API and the pages (NetBox style)."""

import django_filters
from django.db.models import Q

from abm_site.api_base import CharInFilter, DateTimeRangeFilter, IdChoicesFilter, IdInFilter

from .models import Account, Owner, Stakeholder, Tier


def search_name_domain(queryset, name: str, value: str):
    """``q``: case-insensitive substring of the account name or domain."""
    value = value.strip()
    if not value:
        return queryset
    return queryset.filter(Q(name__icontains=value) | Q(domain__icontains=value))


class AccountFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search name or domain")
    tier = IdChoicesFilter(queryset=Tier.objects.all())
    owner__in = IdChoicesFilter(
        field_name="owner", queryset=Owner.objects.all(), label="Owners (repeat)"
    )
    fit_grade = django_filters.MultipleChoiceFilter(
        choices=Account._meta.get_field("fit_grade").choices
    )
    program_type__in = django_filters.MultipleChoiceFilter(
        field_name="program_type", choices=Account._meta.get_field("program_type").choices
    )
    targeted_on = django_filters.DateFromToRangeFilter()
    untargeted_on = django_filters.DateFromToRangeFilter()
    churned_on = django_filters.DateFromToRangeFilter()
    created_at = DateTimeRangeFilter()
    annual_revenue = django_filters.RangeFilter()
    employees = django_filters.RangeFilter()
    fit_score = django_filters.RangeFilter()
    id__in = IdInFilter(field_name="id")
    domain__in = CharInFilter(field_name="domain")

    class Meta:
        model = Account
        fields = [
            "owner",
            "is_target",
            "industry",
            "country",
            "program_type",
            "source",
            "external_id",
            "domain",
            "needs_recompute",
        ]

    def search(self, queryset, name, value):
        return search_name_domain(queryset, name, value)


class StakeholderFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search name, e-mail or title")
    buying_role = django_filters.MultipleChoiceFilter(
        choices=Stakeholder._meta.get_field("buying_role").choices
    )
    known_since = django_filters.DateFromToRangeFilter()
    created_at = DateTimeRangeFilter()
    account__in = IdInFilter(field_name="account_id")
    id__in = IdInFilter(field_name="id")
    email__in = CharInFilter(field_name="email")

    class Meta:
        model = Stakeholder
        fields = ["account", "email", "source", "external_id"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value) | Q(email__icontains=value) | Q(title__icontains=value)
        )


class TierFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Search name")
    id__in = IdInFilter(field_name="id")

    class Meta:
        model = Tier
        fields = ["name", "rank"]
