"""API viewsets of the engagement app: thin adapters over the write services."""

from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from abm_site.api_base import (
    ServiceModelViewSet,
    destroy_schema_with_conflict,
)

from .. import services
from ..filtersets import (
    IntentSignalFilterSet,
    ProgramFilterSet,
    SpendFilterSet,
    TouchFilterSet,
    VisitorFilterSet,
)
from ..models import IntentSignal, Program, Spend, Touch, Visitor
from ..services import MAX_BULK_TOUCHES
from .serializers import (
    IntentSignalSerializer,
    ProgramSerializer,
    SpendSerializer,
    TouchBulkResultSerializer,
    TouchBulkRowSerializer,
    TouchSerializer,
    VisitorSerializer,
)


class BulkLimitSerializer(serializers.Serializer):
    detail = serializers.CharField()
    limit = serializers.IntegerField()


class BulkQuerySerializer(serializers.Serializer):
    source = serializers.CharField(
        max_length=50,
        required=False,
        default="api",
        help_text="Source of touches that name none (with external_id, the idempotency key).",
    )


@extend_schema_view(destroy=destroy_schema_with_conflict())
class ProgramViewSet(ServiceModelViewSet):
    """ABM programs; a program with spend cannot be deleted (409)."""

    queryset = Program.objects.prefetch_related("target_tiers").order_by("id")
    serializer_class = ProgramSerializer
    filterset_class = ProgramFilterSet
    ordering_fields = ["id", "name", "budget", "starts_on", "ends_on", "created_at"]


class SpendViewSet(ServiceModelViewSet):
    queryset = Spend.objects.order_by("id")
    serializer_class = SpendSerializer
    filterset_class = SpendFilterSet
    ordering_fields = ["id", "spent_on", "amount", "category", "created_at"]


class VisitorViewSet(ServiceModelViewSet):
    queryset = Visitor.objects.order_by("id")
    serializer_class = VisitorSerializer
    filterset_class = VisitorFilterSet
    ordering_fields = ["id", "first_seen_at", "identified_at", "created_at"]


class TouchViewSet(ServiceModelViewSet):
    queryset = Touch.objects.order_by("id")
    serializer_class = TouchSerializer
    filterset_class = TouchFilterSet
    ordering_fields = ["id", "occurred_at", "kind", "engagement_minutes", "cost", "created_at"]
    create_service = services.touch_create
    update_service = services.touch_update
    delete_service = services.touch_delete

    @extend_schema(
        operation_id="touches_bulk_create",
        parameters=[BulkQuerySerializer],
        request=TouchBulkRowSerializer(many=True),
        responses={
            200: TouchBulkResultSerializer,
            400: OpenApiResponse(description="The body is not a JSON array."),
            413: OpenApiResponse(BulkLimitSerializer, f"More than {MAX_BULK_TOUCHES} touches."),
        },
    )
    @action(detail=False, methods=["post"], url_path="bulk", filter_backends=[])
    def bulk(self, request: Request, format: str | None = None) -> Response:  # noqa: A002
        """Store up to 10,000 touches at once; each is stored once, however often it is sent.

        Valid touches are stored even when others are rejected; the answer
        lists every rejected touch by its index with the reasons.
        """
        query = BulkQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = request.data
        if not isinstance(rows, list):
            raise serializers.ValidationError(
                {"non_field_errors": ["Send a JSON array of touch objects."]}
            )
        if len(rows) > MAX_BULK_TOUCHES:
            detail = (
                f"{len(rows):,} touches sent; at most {MAX_BULK_TOUCHES:,} per request: split it."
            )
            return Response(
                {"detail": detail, "limit": MAX_BULK_TOUCHES},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        return Response(services.touches_bulk_ingest(rows, source=query.validated_data["source"]))


class IntentSignalViewSet(ServiceModelViewSet):
    queryset = IntentSignal.objects.order_by("id")
    serializer_class = IntentSignalSerializer
    filterset_class = IntentSignalFilterSet
    ordering_fields = ["id", "week", "score", "topic", "created_at"]
    create_service = services.intent_signal_create
    update_service = services.intent_signal_update
    delete_service = services.intent_signal_delete
