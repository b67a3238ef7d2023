"""API viewsets of the accounts app: thin adapters over the write services."""

from abm_site.api_base import ServiceModelViewSet

from .. import services
from ..filtersets import AccountFilterSet, StakeholderFilterSet, TierFilterSet
from ..models import Account, Stakeholder, Tier
from .serializers import AccountSerializer, StakeholderSerializer, TierSerializer


class TierViewSet(ServiceModelViewSet):
    queryset = Tier.objects.order_by("rank", "id")
    serializer_class = TierSerializer
    filterset_class = TierFilterSet
    ordering_fields = ["id", "rank", "name", "created_at"]


class AccountViewSet(ServiceModelViewSet):
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
        "churned_on",
        "created_at",
        "updated_at",
    ]
    create_service = services.account_create
    update_service = services.account_update


class StakeholderViewSet(ServiceModelViewSet):
    queryset = Stakeholder.objects.order_by("id")
    serializer_class = StakeholderSerializer
    filterset_class = StakeholderFilterSet
    ordering_fields = ["id", "name", "email", "known_since", "created_at", "updated_at"]
    create_service = services.stakeholder_create
    update_service = services.stakeholder_update
    delete_service = services.stakeholder_delete
