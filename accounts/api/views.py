"""API viewsets of the accounts app."""

from rest_framework import viewsets

from ..filtersets import AccountFilterSet, StakeholderFilterSet, TierFilterSet
from ..models import Account, Stakeholder, Tier
from .serializers import AccountSerializer, StakeholderSerializer, TierSerializer


class TierViewSet(viewsets.ModelViewSet):
    queryset = Tier.objects.all()
    serializer_class = TierSerializer
    filterset_class = TierFilterSet
    ordering_fields = ["rank", "name"]


class AccountViewSet(viewsets.ModelViewSet):
    queryset = Account.objects.select_related("tier").order_by("id")
    serializer_class = AccountSerializer
    filterset_class = AccountFilterSet
    ordering_fields = [
        "id",
        "name",
        "domain",
        "annual_revenue",
        "employees",
        "fit_score",
        "targeted_on",
        "created_at",
    ]


class StakeholderViewSet(viewsets.ModelViewSet):
    queryset = Stakeholder.objects.order_by("id")
    serializer_class = StakeholderSerializer
    filterset_class = StakeholderFilterSet
    ordering_fields = ["id", "name", "email", "known_since", "created_at"]
