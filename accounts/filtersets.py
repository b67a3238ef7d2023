"""FilterSets shared by the API and the pages (NetBox style)."""

import django_filters
from django.db.models import Q

from .models import Account, Stakeholder, Tier


class AccountFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search name or domain")
    tier = django_filters.ModelMultipleChoiceFilter(queryset=Tier.objects.all())
    fit_grade = django_filters.MultipleChoiceFilter(
        choices=Account._meta.get_field("fit_grade").choices
    )
    targeted_on = django_filters.DateFromToRangeFilter()
    churned_on = django_filters.DateFromToRangeFilter()
    annual_revenue = django_filters.RangeFilter()
    employees = django_filters.RangeFilter()
    id__in = django_filters.BaseInFilter(field_name="id")
    domain__in = django_filters.BaseInFilter(field_name="domain")

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
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(domain__icontains=value))


class StakeholderFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search name, e-mail or title")
    buying_role = django_filters.MultipleChoiceFilter(
        choices=Stakeholder._meta.get_field("buying_role").choices
    )
    known_since = django_filters.DateFromToRangeFilter()
    account__in = django_filters.BaseInFilter(field_name="account_id")

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
    class Meta:
        model = Tier
        fields = ["name", "rank"]
