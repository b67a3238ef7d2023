"""API viewsets of the accounts app: thin adapters over the write services."""

from django.db.models import Count, F, Q
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers as drf_serializers
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from abm_site.api_base import ServiceModelViewSet

from .. import services
from ..filtersets import AccountFilterSet, StakeholderFilterSet, TierFilterSet
from ..models import Account, AccountList, Holdout, Stakeholder, Tier
from ..selectors import list_intervals, lists_with_counts
from .serializers import (
    AccountListSerializer,
    AccountSerializer,
    HoldoutDrawSerializer,
    HoldoutSerializer,
    ListMembershipSerializer,
    ListMembersQuerySerializer,
    ListMembersResultSerializer,
    ListMembersWriteSerializer,
    StakeholderSerializer,
    TierSerializer,
)


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


class AccountListViewSet(ServiceModelViewSet):
    """Named account lists; each membership is an interval, so members as of any day are exact.

    The target list (``is_target``) follows the accounts' targeting fields and takes no
    member writes; a dynamic list's members come from its ``criteria``.
    """

    queryset = AccountList.objects.all()  # get_queryset adds the member counts
    serializer_class = AccountListSerializer
    filterset_fields = ["kind", "is_target"]
    ordering_fields = ["id", "name", "created_at"]
    create_service = services.list_create
    update_service = services.list_update
    delete_service = services.list_delete

    def perform_create(self, serializer) -> None:
        super().perform_create(serializer)
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)  # with counts

    def perform_update(self, serializer) -> None:
        super().perform_update(serializer)
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)

    def perform_destroy(self, instance: AccountList) -> None:
        try:
            super().perform_destroy(instance)
        except services.ListWriteError as exc:
            raise drf_serializers.ValidationError({"non_field_errors": [str(exc)]}) from None

    def get_queryset(self):
        return lists_with_counts(timezone.localdate()).annotate(members_today=F("members_0"))

    @extend_schema(
        parameters=[ListMembersQuerySerializer],
        responses=ListMembershipSerializer(many=True),
        methods=["GET"],
    )
    @extend_schema(
        request=ListMembersWriteSerializer, responses=ListMembersResultSerializer, methods=["POST"]
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[])
    def members(self, request: Request, pk: str | None = None, format: str | None = None):  # noqa: A002
        """GET: the list's membership intervals (``on``: only those covering that day).
        POST: ``{"add": [ids], "remove": [ids], "on": "YYYY-MM-DD"}`` on a static list."""
        account_list = self.get_object()
        if request.method == "GET":
            query = ListMembersQuerySerializer(data=request.query_params)
            query.is_valid(raise_exception=True)
            rows = list_intervals(account_list.pk, query.validated_data.get("on"))
            page = self.paginate_queryset(rows)
            data = ListMembershipSerializer(page, many=True).data
            return self.get_paginated_response(data)
        body = ListMembersWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        day = body.validated_data.get("on")
        try:
            left = services.list_members_remove(
                account_list, body.validated_data.get("remove", []), day
            )
            joined = services.list_members_add(
                account_list, body.validated_data.get("add", []), day
            )
        except services.ListWriteError as exc:
            raise drf_serializers.ValidationError({"add": [str(exc)]}) from None
        return Response({"joined": joined, "left": left})

    @extend_schema(responses=HoldoutSerializer, methods=["GET"])
    @extend_schema(request=HoldoutDrawSerializer, responses=HoldoutSerializer, methods=["POST"])
    @action(detail=True, methods=["get", "post"], filter_backends=[], pagination_class=None)
    def holdout(self, request: Request, pk: str | None = None, format: str | None = None):  # noqa: A002
        """GET: the list's holdout (404 without one). POST: draw it, ``{"share": 0.2,
        "seed": "2026-q3", "on": "YYYY-MM-DD", "replace": false}``: that share of each tier
        and fit-grade stratum of the members on ``on`` (default today), by md5(seed:domain),
        so the same seed draws the same accounts. Its lift: ``GET /api/v1/lists/{id}/lift/``."""
        account_list = self.get_object()
        if request.method == "POST":
            body = HoldoutDrawSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            data = body.validated_data
            try:
                services.holdout_draw(
                    account_list, data["share"], data["seed"], data.get("on"),
                    replace=data["replace"],
                )  # fmt: skip
            except services.HoldoutError as exc:
                raise drf_serializers.ValidationError({"non_field_errors": [str(exc)]}) from None
        found = (
            Holdout.objects.filter(list=account_list)
            .annotate(
                treated=Count("assignments", filter=Q(assignments__held_out=False)),
                held_out=Count("assignments", filter=Q(assignments__held_out=True)),
            )
            .first()
        )
        if found is None:
            raise NotFound(
                f'List {account_list.pk} has no holdout: POST {{"share": 0.2, "seed": '
                '"2026-q3"} here to draw one.'
            )
        return Response(
            HoldoutSerializer(found).data, status=201 if request.method == "POST" else 200
        )
