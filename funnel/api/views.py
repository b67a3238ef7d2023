"""API views of the funnel app: opportunities, NPS, computed rows, account timeline."""

from rest_framework import viewsets

from abm_site.api_base import ServiceModelViewSet

from .. import services
from ..filtersets import (
    AccountSnapshotFilterSet,
    AccountStageChangeFilterSet,
    FunnelSnapshotFilterSet,
    NpsResponseFilterSet,
    OpportunityFilterSet,
)
from ..models import AccountSnapshot, AccountStageChange, FunnelSnapshot, NpsResponse, Opportunity
from .serializers import (
    AccountSnapshotSerializer,
    AccountStageChangeSerializer,
    FunnelSnapshotSerializer,
    NpsResponseSerializer,
    OpportunitySerializer,
)


class OpportunityViewSet(ServiceModelViewSet):
    queryset = Opportunity.objects.order_by("id")
    serializer_class = OpportunitySerializer
    filterset_class = OpportunityFilterSet
    ordering_fields = ["id", "amount", "created_on", "closed_on", "contract_end", "created_at"]
    create_service = services.opportunity_create
    update_service = services.opportunity_update
    delete_service = services.opportunity_delete


class NpsResponseViewSet(ServiceModelViewSet):
    queryset = NpsResponse.objects.order_by("id")
    serializer_class = NpsResponseSerializer
    filterset_class = NpsResponseFilterSet
    ordering_fields = ["id", "score", "responded_on", "created_at"]
    create_service = services.nps_response_create
    update_service = services.nps_response_update
    delete_service = services.nps_response_delete


class AccountStageChangeViewSet(viewsets.ReadOnlyModelViewSet):
    """Stage changes the recompute records; read only."""

    queryset = AccountStageChange.objects.order_by("id")
    serializer_class = AccountStageChangeSerializer
    filterset_class = AccountStageChangeFilterSet
    ordering_fields = ["id", "changed_on", "account"]


class AccountSnapshotViewSet(viewsets.ReadOnlyModelViewSet):
    """Per-account daily snapshots the recompute writes; read only."""

    queryset = AccountSnapshot.objects.order_by("id")
    serializer_class = AccountSnapshotSerializer
    filterset_class = AccountSnapshotFilterSet
    ordering_fields = ["id", "date", "account", "engagement_score", "relationship_score"]


class FunnelSnapshotViewSet(viewsets.ReadOnlyModelViewSet):
    """Per-slice KPI snapshots the recompute writes; read only."""

    queryset = FunnelSnapshot.objects.order_by("id")
    serializer_class = FunnelSnapshotSerializer
    filterset_class = FunnelSnapshotFilterSet
    ordering_fields = ["id", "date", "window_days", "slice"]
