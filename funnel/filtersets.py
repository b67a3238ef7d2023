"""FilterSets of the funnel app, for the API and the pages."""

import django_filters
from django.db.models import Q
from rest_framework.exceptions import ValidationError

from abm_site.api_base import CharInFilter, IdInFilter

from .choices import OpportunityStatus, OpportunityType, Stage
from .definitions import UnknownDefinitions, definitions_resolve
from .models import AccountSnapshot, AccountStageChange, FunnelSnapshot, NpsResponse, Opportunity
from .selectors import first_revisions, latest_revisions


class OpportunityFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search name, account name or domain")
    account__in = IdInFilter(field_name="account_id")
    type = django_filters.MultipleChoiceFilter(choices=OpportunityType.choices)
    status = django_filters.MultipleChoiceFilter(choices=OpportunityStatus.choices)
    created_on = django_filters.DateFromToRangeFilter()
    closed_on = django_filters.DateFromToRangeFilter()
    contract_end = django_filters.DateFromToRangeFilter()
    amount = django_filters.RangeFilter()
    external_id__in = CharInFilter(field_name="external_id")
    id__in = IdInFilter(field_name="id")

    class Meta:
        model = Opportunity
        fields = ["account", "crm_stage", "source", "external_id"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value)
            | Q(account__name__icontains=value)
            | Q(account__domain__icontains=value)
        )


class NpsResponseFilterSet(django_filters.FilterSet):
    account__in = IdInFilter(field_name="account_id")
    score = django_filters.RangeFilter()
    responded_on = django_filters.DateFromToRangeFilter()
    id__in = IdInFilter(field_name="id")

    class Meta:
        model = NpsResponse
        fields = ["account", "stakeholder", "source", "external_id"]


class AccountStageChangeFilterSet(django_filters.FilterSet):
    account__in = IdInFilter(field_name="account_id")
    changed_on = django_filters.DateFromToRangeFilter()
    from_stage = django_filters.MultipleChoiceFilter(choices=Stage.choices)
    to_stage = django_filters.MultipleChoiceFilter(choices=Stage.choices)

    class Meta:
        model = AccountStageChange
        fields = ["account"]


class AccountSnapshotFilterSet(django_filters.FilterSet):
    account__in = IdInFilter(field_name="account_id")
    date = django_filters.DateFromToRangeFilter()
    stage = django_filters.MultipleChoiceFilter(choices=Stage.choices)
    engagement_score = django_filters.RangeFilter()
    relationship_score = django_filters.RangeFilter()
    research_grade = django_filters.RangeFilter()

    class Meta:
        model = AccountSnapshot
        fields = ["account", "is_target", "intent_surge"]


class FunnelSnapshotFilterSet(django_filters.FilterSet):
    """Published snapshots: the latest revision of each by default (the current figures).

    ``revision=first`` gives what was first published, ``all`` every revision, a
    number that revision; ``definitions`` (name or id) the version, default all.
    """

    date = django_filters.DateFromToRangeFilter()
    slice__in = CharInFilter(field_name="slice")
    definitions = django_filters.CharFilter(method="by_definitions", label="Definitions version")
    revision = django_filters.CharFilter(
        method="by_revision", label="latest (default), first, all or a revision number"
    )

    class Meta:
        model = FunnelSnapshot
        fields = ["window_days", "slice"]

    @property
    def qs(self):
        queryset = super().qs
        if not (self.form.cleaned_data or {}).get("revision"):
            queryset = latest_revisions(queryset)
        return queryset

    def by_definitions(self, queryset, name: str, value: str):
        try:
            return queryset.filter(definitions=definitions_resolve(value))
        except UnknownDefinitions as exc:
            raise ValidationError({"definitions": [str(exc)]}) from None

    def by_revision(self, queryset, name: str, value: str):
        value = value.strip().lower()
        if value in ("", "latest"):
            return latest_revisions(queryset)
        if value == "first":
            return first_revisions(queryset)
        if value == "all":
            return queryset
        if value.isdigit() and 0 < int(value) < 32768:
            return queryset.filter(revision=int(value))
        raise ValidationError(
            {"revision": ["Use latest, first, all or a revision number (1, 2, ...)."]}
        )
