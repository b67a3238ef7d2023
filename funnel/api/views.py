"""API views of the funnel app: opportunities, NPS, and the rows the recompute writes."""

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

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
from ..selectors import snapshot_restatements
from .serializers import (
    AccountSnapshotSerializer,
    AccountStageChangeSerializer,
    FunnelSnapshotSerializer,
    NpsResponseSerializer,
    OpportunitySerializer,
    SnapshotRevisionSerializer,
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
    """Per-slice KPI snapshots the recompute publishes, with their revisions; read only.

    The list gives the latest revision of each snapshot unless ``revision`` says
    otherwise; ``revisions`` of one snapshot says what each revision restated.
    """

    queryset = FunnelSnapshot.objects.select_related("definitions").order_by("id")
    serializer_class = FunnelSnapshotSerializer
    filterset_class = FunnelSnapshotFilterSet
    ordering_fields = ["id", "date", "window_days", "slice", "revision"]

    @extend_schema(responses=SnapshotRevisionSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def revisions(
        self,
        request: Request,
        pk: str | None = None,
        format: str | None = None,  # noqa: A002
    ) -> Response:
        """Every revision of this snapshot's day, slice, window and definitions, oldest first,
        each with the KPIs it changed (from, to): what the figures said then and say now."""
        snapshot = self.get_object()
        history = snapshot_restatements(
            snapshot.date, snapshot.slice, snapshot.window_days, snapshot.definitions_id
        )
        return Response(SnapshotRevisionSerializer(history, many=True).data)
