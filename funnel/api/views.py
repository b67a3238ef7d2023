"""API views of the funnel app: opportunities, NPS, computed rows, account timeline."""

from django.db.models import CharField, DateTimeField, F, QuerySet, Value
from django.db.models.functions import Cast, Coalesce
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status, viewsets
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from abm_site.api_base import ServiceModelViewSet
from abm_site.idempotency import IdempotentCreateMixin
from accounts.models import Account
from engagement.api.serializers import TouchSerializer
from engagement.models import Touch

from .. import writes
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
    ImportReportSerializer,
    ImportRequestSerializer,
    NpsResponseSerializer,
    OpportunitySerializer,
    TimelineEntrySerializer,
)


class OpportunityViewSet(ServiceModelViewSet):
    queryset = Opportunity.objects.order_by("id")
    serializer_class = OpportunitySerializer
    filterset_class = OpportunityFilterSet
    ordering_fields = ["id", "amount", "created_on", "closed_on", "contract_end", "created_at"]
    create_service = writes.opportunity_create
    update_service = writes.opportunity_update
    delete_service = writes.opportunity_delete


class NpsResponseViewSet(ServiceModelViewSet):
    queryset = NpsResponse.objects.order_by("id")
    serializer_class = NpsResponseSerializer
    filterset_class = NpsResponseFilterSet
    ordering_fields = ["id", "score", "responded_on", "created_at"]
    create_service = writes.nps_response_create
    update_service = writes.nps_response_update
    delete_service = writes.nps_response_delete


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


def _day_start(field: str) -> Cast:
    return Cast(field, output_field=DateTimeField())


def account_timeline_entries(account_id: int) -> QuerySet:
    """One UNION query over the account's touches, opportunities, stage changes and
    NPS responses: rows ``(entry_type, entry_id, at)``, newest first.

    Date-only events sort at the start of their day; an opportunity sorts at
    its close (or creation) date.
    """

    def entries(queryset: QuerySet, kind: str, at) -> QuerySet:
        return (
            queryset.filter(account_id=account_id)
            .order_by()
            .annotate(
                entry_type=Value(kind, output_field=CharField()),
                entry_id=F("id"),
                at=at,
            )
            .values_list("entry_type", "entry_id", "at")
        )

    touches = entries(Touch.objects.all(), "touch", F("occurred_at"))
    opportunities = entries(
        Opportunity.objects.all(),
        "opportunity",
        Coalesce(_day_start("closed_on"), _day_start("created_on"), F("created_at")),
    )
    changes = entries(AccountStageChange.objects.all(), "stage_change", _day_start("changed_on"))
    nps = entries(NpsResponse.objects.all(), "nps_response", _day_start("responded_on"))
    return touches.union(opportunities, changes, nps, all=True).order_by("-at", "-entry_id")


_ENTRY_SOURCES = {
    "touch": (Touch, TouchSerializer, lambda o: o.get_kind_display()),
    "opportunity": (
        Opportunity,
        OpportunitySerializer,
        lambda o: f"{o.get_type_display()} opportunity {o.name or o.pk} ({o.get_status_display()})",
    ),
    "stage_change": (
        AccountStageChange,
        AccountStageChangeSerializer,
        lambda o: f"Stage {o.get_from_stage_display()} → {o.get_to_stage_display()}",
    ),
    "nps_response": (NpsResponse, NpsResponseSerializer, lambda o: f"NPS {o.score}"),
}


def timeline_page_rows(page: list[tuple[str, int, object]]) -> list[dict]:
    """Load the rows of one timeline page: one query per entry type, whatever the page size."""
    wanted: dict[str, list[int]] = {}
    for entry_type, entry_id, _at in page:
        wanted.setdefault(entry_type, []).append(entry_id)
    loaded: dict[tuple[str, int], object] = {}
    for entry_type, ids in wanted.items():
        model = _ENTRY_SOURCES[entry_type][0]
        for obj in model.objects.filter(pk__in=ids):
            loaded[(entry_type, obj.pk)] = obj
    rows = []
    for entry_type, entry_id, at in page:
        obj = loaded.get((entry_type, entry_id))
        if obj is None:  # deleted between the page query and this one
            continue
        _model, serializer_class, summary = _ENTRY_SOURCES[entry_type]
        rows.append(
            {
                "type": entry_type,
                "id": entry_id,
                "occurred_at": at,
                "summary": summary(obj),
                "object": serializer_class(obj).data,
            }
        )
    return rows


class AccountTimelineView(generics.GenericAPIView):
    """An account's touches, opportunities, stage changes and NPS responses, newest first."""

    serializer_class = TimelineEntrySerializer
    filter_backends: list = []
    queryset = Account.objects.all()

    @extend_schema(
        operation_id="accounts_timeline_list",
        parameters=[
            OpenApiParameter("id", int, OpenApiParameter.PATH, description="Account id."),
            OpenApiParameter("page", int, description="Page number (from 1)."),
            OpenApiParameter("page_size", int, description="Entries per page (at most 1000)."),
        ],
        responses=TimelineEntrySerializer(many=True),
    )
    def get(self, request: Request, pk: int) -> Response:
        account = get_object_or_404(Account.objects.only("id"), pk=pk)
        page = self.paginate_queryset(account_timeline_entries(account.pk))
        return self.get_paginated_response(
            TimelineEntrySerializer(timeline_page_rows(page), many=True).data
        )


class ImportView(IdempotentCreateMixin, generics.GenericAPIView):
    """Upload a CSV file of accounts, stakeholders, opportunities, touches, spend, NPS or intent."""

    serializer_class = ImportRequestSerializer
    parser_classes = [MultiPartParser, FormParser]
    filter_backends: list = []

    @extend_schema(
        operation_id="imports_create",
        request={"multipart/form-data": ImportRequestSerializer},
        responses={
            200: ImportReportSerializer,
            400: OpenApiResponse(
                description="Bad parameters (keyed by name), or a file that cannot be "
                "imported (the report, with its errors)."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        """Import the file (or check it, with ``dry_run``); the report lists every rejected row.

        Valid rows are stored even when others are rejected; a file-level
        problem (not CSV, no header, missing required columns) stores nothing
        and answers 400 with the report.
        """
        from ..services import csv_import

        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        report = csv_import(
            data["kind"],
            data["file"],
            mapping=data["mapping"],
            dry_run=data["dry_run"],
            source=data.get("source"),
        )
        body = report.as_dict()
        return Response(
            body, status=status.HTTP_200_OK if report.ok else status.HTTP_400_BAD_REQUEST
        )
