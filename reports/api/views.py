"""KPI endpoints: thin adapters over ``funnel.kpis`` (the one KPI engine)."""

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from rest_framework import generics, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from abm_site.api_base import ErrorDetailSerializer, serializer_for
from abm_site.pagination import StandardPagination
from accounts.models import Account
from engagement.models import Touch
from engagement.selectors import holdout_contamination_counts, score_breakdowns
from funnel.models import AccountStageChange, NpsResponse, Opportunity

from .. import selectors
from .serializers import (
    AccountScoresQuerySerializer,
    AccountScoresSerializer,
    AttributionQuerySerializer,
    AttributionResultSerializer,
    KpiListQuerySerializer,
    KpiQuerySerializer,
    KpiResultSerializer,
    KpiSeriesQuerySerializer,
    KpiSeriesSerializer,
    LiftQuerySerializer,
    LiftResultSerializer,
    OpportunityAttributionQuerySerializer,
    OpportunityAttributionSerializer,
    ScorecardQuerySerializer,
    ScorecardResultSerializer,
    TimelineEntrySerializer,
)

AccountSerializer = serializer_for(Account)
OpportunitySerializer = serializer_for(Opportunity)

KPI_ID = OpenApiParameter(
    "kpi_id", str, OpenApiParameter.PATH, description="A KPI id of the catalogue (KPIS.md)."
)
BAD_PARAMETERS = OpenApiResponse(
    description="A parameter is invalid; the body is keyed by the parameter's name."
)
UNKNOWN_KPI = OpenApiResponse(ErrorDetailSerializer, description="No such KPI (or no drill-down).")

DrilldownPage = inline_serializer(
    name="PaginatedKpiDrilldownList",
    fields={
        "count": serializers.IntegerField(),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": PolymorphicProxySerializer(
            component_name="KpiDrilldownRow",
            serializers=[AccountSerializer, OpportunitySerializer],
            resource_type_field_name=None,
            many=True,
        ),
        "part": serializers.CharField(allow_null=True, help_text="The part listed, if any."),
        "parts": serializers.DictField(
            child=serializers.URLField(),
            help_text="For a KPI whose rows are in parts (a rate's numerator and denominator, "
            "the funnel's stages), asked without `part`: each part's list URL, and no rows. "
            "Empty otherwise.",
        ),
        "figure": inline_serializer(
            name="KpiDrilldownFigure",
            fields={
                "label": serializers.CharField(),
                "unit": serializers.CharField(),
                "combine": serializers.ChoiceField(choices=["sum", "mean", "median"]),
                "value": serializers.FloatField(
                    allow_null=True,
                    help_text="The combine of every listed row's contribution: the KPI value.",
                ),
            },
            allow_null=True,
            help_text="What each row contributes (its `contribution` key) and how the rows "
            "make the KPI; null for lists whose count is the number.",
        ),
    },
)

PART = OpenApiParameter(
    "part",
    str,
    description="List one part instead of the KPI's own rows: `numerator` or `denominator` "
    "of a rate (or the denominator of a spend ratio), a stage of `funnel`. Each KPI's parts "
    "are its `drill_parts` (GET /api/v1/kpis/ lists ids; unknown parts answer 404).",
)


def _engine():
    """The KPI engine, imported when used (it is the funnel app's public KPI facade)."""
    from funnel import kpis

    return kpis


def _parse(request: Request, serializer_class: type[KpiQuerySerializer]) -> dict:
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data


def _period_and_filters(params: dict):
    kpis = _engine()
    period = kpis.Period(start=params["from"], end=params["to"])
    filters = kpis.Filters(
        tier=tuple(params.get("tier", ())),
        program=tuple(params.get("program", ())),
        owner=tuple(params.get("owner", ())),
        cohort=params.get("cohort"),
        list_id=params.get("list"),
    )
    return period, filters


def _spec(kpi_id: str):
    spec = _engine().REGISTRY.get(kpi_id)
    if spec is None:
        raise NotFound(f"Unknown KPI id '{kpi_id}'; GET /api/v1/kpis/ lists the catalogue.")
    return spec


class KpiSchema(AutoSchema):
    """The KPI "list" answers one result object (the catalogue), not a list of rows."""

    def _is_list_view(self, serializer=None) -> bool:
        return False


class KpiViewSet(viewsets.GenericViewSet):
    """The KPI catalogue computed for a period and slice, and the rows behind a count."""

    lookup_url_kwarg = "kpi_id"
    lookup_value_regex = r"[A-Za-z0-9_]+"
    filter_backends: list = []
    pagination_class = None  # the KPI result is one object; drill-downs paginate themselves
    schema = KpiSchema()

    @extend_schema(
        operation_id="kpis_list",
        parameters=[KpiListQuerySerializer],
        responses={200: KpiResultSerializer, 400: BAD_PARAMETERS},
    )
    def list(self, request: Request, format: str | None = None) -> Response:  # noqa: A002
        """Every KPI of the catalogue (or those named by ``id``) for the period and filters."""
        params = _parse(request, KpiListQuerySerializer)
        period, filters = _period_and_filters(params)
        return Response(
            _period_status(
                _engine().compute(
                    period,
                    filters,
                    ids=params.get("id") or None,
                    definitions=params.get("definitions"),
                ),
                period,
            )
        )

    @extend_schema(
        operation_id="kpis_retrieve",
        parameters=[KPI_ID, KpiQuerySerializer],
        responses={200: KpiResultSerializer, 400: BAD_PARAMETERS, 404: UNKNOWN_KPI},
    )
    def retrieve(self, request: Request, kpi_id: str, format: str | None = None) -> Response:  # noqa: A002
        """One KPI, in the same result shape as the list (``kpis`` holds one item)."""
        _spec(kpi_id)
        params = _parse(request, KpiQuerySerializer)
        period, filters = _period_and_filters(params)
        try:
            result = _engine().compute(
                period, filters, ids=[kpi_id], definitions=params.get("definitions")
            )
        except _engine().UnknownKpi as exc:
            raise NotFound(str(exc)) from None
        return Response(_period_status(result, period))

    @extend_schema(
        operation_id="kpis_series_retrieve",
        parameters=[KPI_ID, KpiSeriesQuerySerializer],
        responses={200: KpiSeriesSerializer, 400: BAD_PARAMETERS, 404: UNKNOWN_KPI},
    )
    @action(detail=True, methods=["get"])
    def series(self, request: Request, kpi_id: str, format: str | None = None) -> Response:  # noqa: A002
        """The KPI by week or month over the period, computed live (any filters), each point
        the KPI of that bucket alone; ``previous=true`` adds the previous period's."""
        _spec(kpi_id)
        params = _parse(request, KpiSeriesQuerySerializer)
        period, filters = _period_and_filters(params)
        kpis = _engine()
        try:
            result = kpis.compute_series(
                period,
                filters,
                [kpi_id],
                params["bucket"],
                params.get("definitions"),
                previous=params["previous"],
            )
        except kpis.SeriesUnavailable as exc:
            raise NotFound(str(exc)) from None
        except kpis.UnknownKpi as exc:
            raise NotFound(str(exc)) from None
        first = result["points"][-1]
        item = first["kpis"][0]
        body = {
            "id": kpi_id,
            "label": item["label"],
            "unit": item["unit"],
            "bucket": result["bucket"],
            "period": {"from": period.start.isoformat(), "to": period.end.isoformat()},
            "filters": first["filters"],
            "definitions": first["definitions"],
            "points": kpis.kpi_series(result, kpi_id),
        }
        if params["previous"]:
            body["previous"] = kpis.kpi_series(result, kpi_id, "previous")
        return Response(_period_status(body, period))

    @extend_schema(
        operation_id="kpis_accounts_list",
        parameters=[
            KPI_ID,
            KpiQuerySerializer,
            PART,
            OpenApiParameter("page", int, description="Page number (from 1)."),
            OpenApiParameter("page_size", int, description="Rows per page (at most 1000)."),
        ],
        responses={200: DrilldownPage, 400: BAD_PARAMETERS, 404: UNKNOWN_KPI},
    )
    @action(detail=True, methods=["get"])
    def accounts(self, request: Request, kpi_id: str, format: str | None = None) -> Response:  # noqa: A002
        """The accounts (or opportunities) behind a KPI, or behind one ``part`` of it (a
        rate's numerator or denominator, a funnel stage), paginated; each row of a KPI with
        a figure (amount, days, touches, score) carries its ``contribution``."""
        spec = _spec(kpi_id)
        params = _parse(request, KpiQuerySerializer)
        part = request.query_params.get("part") or None
        period, filters = _period_and_filters(params)
        try:
            rows = _engine().drilldown(
                kpi_id, period, filters, definitions=params.get("definitions"), part=part
            )
        except _engine().NoDrilldown as exc:
            if part is None and spec.drillable:  # rows in parts: name each part's list
                return Response(_parts_index(request, spec))
            what = f"part '{part}'" if part else "drill-down list"
            reason = f" {spec.no_population}" if spec.no_population and not part else ""
            raise NotFound(f"KPI '{kpi_id}' ({spec.unit}) has no {what}.{reason}") from exc
        except _engine().UnknownKpi as exc:
            raise NotFound(str(exc)) from None
        kind = (spec.drill_for(part) or spec.drill).source.drills_to
        # The drill-down runs once: the ordered ids with each row's figure, then the page's
        # rows by id (before, the count, the page and the figures each ran it again).
        model, serializer_class = _DRILL_ROWS[kind]
        ids, figures = selectors.drill_ids(rows.order_by(*_DRILL_ORDER[kind]), "")
        paginator = StandardPagination()
        page_ids = paginator.paginate_queryset(ids, request, view=self)
        by_id = model.objects.select_related(*_DRILL_RELATED[kind]).in_bulk(page_ids)
        page = [by_id[pk] for pk in page_ids if pk in by_id]
        data = serializer_class(page, many=True).data
        figure = spec.figure if part is None and figures is not None else None
        if figure is not None:
            for row, obj in zip(data, page, strict=True):
                row["contribution"] = figures.get(obj.pk)
        response = paginator.get_paginated_response(data)
        response.data["part"] = part
        response.data["parts"] = {}
        response.data["figure"] = (
            {
                "label": figure.label,
                "unit": figure.unit,
                "combine": figure.combine,
                "value": figure.of(figures.values()),
            }
            if figure is not None
            else None
        )
        return response


def _period_status(body: dict[str, Any], period: Any) -> dict[str, Any]:
    """``body`` with its period echo saying whether the period ends after today and whether
    it starts before the data (the pages' rule, ``selectors.period_status``); a copy, as
    ``body`` may be a cached result."""
    return {**body, "period": {**body["period"], **selectors.period_status(period).echo()}}


def _parts_index(request: Request, spec: Any) -> dict[str, Any]:
    """The answer for a KPI whose rows are in parts (a rate's sides, the funnel's stages):
    no rows of its own, and the URL listing each part with the same query."""
    query = request.query_params.copy()
    parts = {}
    for part in spec.drill_parts:
        query["part"] = part
        parts[part] = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
    return {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
        "part": None,
        "figure": None,
        "parts": parts,
    }


#: What each kind of drill-down row is, how its list is ordered (stable across pages) and
#: what its serializer reads besides the row.
_DRILL_ROWS: dict[str, tuple[type, type]] = {
    "account": (Account, AccountSerializer),
    "opportunity": (Opportunity, OpportunitySerializer),
}
_DRILL_ORDER = {"account": ("name", "pk"), "opportunity": ("pk",)}
_DRILL_RELATED = {"account": ("tier",), "opportunity": ()}


# --- account timeline ------------------------------------------------------------

_ENTRY_SOURCES = {
    "touch": (Touch, lambda o: o.get_kind_display()),
    "opportunity": (
        Opportunity,
        lambda o: f"{o.get_type_display()} opportunity {o.name or o.pk} ({o.get_status_display()})",
    ),
    "stage_change": (
        AccountStageChange,
        lambda o: f"Stage {o.get_from_stage_display()} → {o.get_to_stage_display()}",
    ),
    "nps_response": (NpsResponse, lambda o: f"NPS {o.score}"),
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
        model, summary = _ENTRY_SOURCES[entry_type]
        rows.append(
            {
                "type": entry_type,
                "id": entry_id,
                "occurred_at": at,
                "summary": summary(obj),
                "object": serializer_for(model)(obj).data,
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
        page = self.paginate_queryset(selectors.account_timeline_entries(account.pk))
        return self.get_paginated_response(
            TimelineEntrySerializer(timeline_page_rows(page), many=True).data
        )


# --- score breakdowns (issue 20) -------------------------------------------------------------


class AccountScoresView(generics.GenericAPIView):
    """An account's engagement score, relationship score and research grade with their
    working: by signal kind the count, weight, decay and contribution, and the window."""

    filter_backends: list = []
    pagination_class = None
    queryset = Account.objects.all()

    @extend_schema(
        operation_id="accounts_scores_retrieve",
        parameters=[
            OpenApiParameter("id", int, OpenApiParameter.PATH, description="Account id."),
            AccountScoresQuerySerializer,
        ],
        responses={200: AccountScoresSerializer, 400: BAD_PARAMETERS},
    )
    def get(self, request: Request, pk: int) -> Response:
        """Computed from the definitions version's own score expressions (the ones the KPI
        engine and the nightly snapshots use), so each total equals the snapshot's score for
        that date and version; the contributions add up to the total (below its cap)."""
        kpis = _engine()
        account = get_object_or_404(Account.objects.only("id"), pk=pk)
        params = _parse(request, AccountScoresQuerySerializer)
        rules = params.get("definitions") or kpis.definitions_resolve(None)
        day, source = params.get("date"), "query"
        if day is None:
            day, source = selectors.account_scores_date(account.pk)
        body = {
            "account": account.pk,
            "date": day,
            "date_source": source,
            "definitions": kpis.definitions_echo(rules),
            "scores": score_breakdowns(account.pk, day, rules.params),
        }
        return Response(AccountScoresSerializer(body).data)


# --- attribution (issue 14) ---------------------------------------------------------------


def _program_refs(ids) -> dict:
    """Program id -> {"id", "name"}: one query for all the ids of a result."""
    from engagement.models import Program

    wanted = sorted({pk for pk in ids if pk is not None})
    if not wanted:
        return {}
    return {
        pk: {"id": pk, "name": name}
        for pk, name in Program.objects.filter(pk__in=wanted).values_list("pk", "name")
    }


class AttributionUnavailable(APIException):
    status_code = 503
    default_code = "attribution_unavailable"


class AttributionView(generics.GenericAPIView):
    """Pipeline and revenue of a period credited to programs by an attribution model."""

    filter_backends: list = []
    pagination_class = None

    @extend_schema(
        operation_id="attribution_retrieve",
        parameters=[AttributionQuerySerializer],
        responses={200: AttributionResultSerializer, 400: BAD_PARAMETERS},
    )
    def get(self, request: Request) -> Response:
        """One row per credited program and a "no program" row (program null); the rows add
        up to ``totals``: the period's pipeline and new revenue won for the same filters and
        cohort, to the cent. A program filter selects accounts as for the KPIs; rows still
        list every program credited on them, and ``selected`` sums the filter's programs."""
        kpis = _engine()
        params = _parse(request, AttributionQuerySerializer)
        period, filters = _period_and_filters(params)
        rules = params.get("definitions") or kpis.definitions_resolve(None)
        try:
            result = kpis.program_attribution(
                period, filters, params.get("model"), definitions=rules
            )
        except kpis.AttributionUnavailable as exc:  # SQLite: say why, as a 503
            raise AttributionUnavailable(str(exc)) from None
        refs = _program_refs(result.programs)
        rows = [
            {
                "program": refs.get(pk) if pk is not None else None,
                "pipeline": row.pipeline,
                "pipeline_opportunities": row.pipeline_opportunities,
                "revenue": row.revenue,
                "revenue_opportunities": row.revenue_opportunities,
                "revenue_pre": row.revenue_pre,
                "revenue_post": row.revenue_post,
            }
            for pk, row in result.programs.items()
        ]
        body = {
            "period": {"from": period.start, "to": period.end},
            "filters": kpis.filters_echo(filters),
            "definitions": kpis.definitions_echo(rules),
            "model": result.model,
            "lookback_days": result.lookback_days,
            "half_life_days": result.half_life_days,
            "cohort": filters.cohort or "abm",
            "programs": rows,
            "selected": {"pipeline": result.selected.pipeline, "revenue": result.selected.revenue},
            "totals": {"pipeline": result.total("pipeline"), "revenue": result.total("revenue")},
        }
        return Response(AttributionResultSerializer(body).data)


class OpportunityAttributionView(generics.GenericAPIView):
    """One opportunity's amount credited to programs."""

    filter_backends: list = []
    pagination_class = None
    queryset = Opportunity.objects.all()

    @extend_schema(
        operation_id="opportunities_attribution_retrieve",
        parameters=[
            OpenApiParameter("id", int, OpenApiParameter.PATH, description="Opportunity id."),
            OpportunityAttributionQuerySerializer,
        ],
        responses={200: OpportunityAttributionSerializer, 400: BAD_PARAMETERS},
    )
    def get(self, request: Request, pk: int) -> Response:
        """Its pipeline credit (touches in the window before its creation day; none when the
        creation day is unknown) and, when won, its revenue credit (window before the close),
        each split before/after creation; credits of a basis sum to the amount."""
        kpis = _engine()
        opportunity = get_object_or_404(Opportunity.objects.all(), pk=pk)
        query = OpportunityAttributionQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        rules = params.get("definitions") or kpis.definitions_resolve(None)
        try:
            credits = kpis.opportunity_attribution(opportunity, params.get("model"), rules)
        except kpis.AttributionUnavailable as exc:
            raise AttributionUnavailable(str(exc)) from None
        refs = _program_refs(c.program_id for c in credits)
        body = {
            "opportunity": opportunity.pk,
            "amount": opportunity.amount,
            "model": params.get("model") or kpis.attribution_version_model(rules.params),
            "definitions": kpis.definitions_echo(rules),
            "pipeline": [],
            "revenue": [],
        }
        for credit in credits:
            body[credit.basis].append(
                {
                    "program": refs.get(credit.program_id),
                    "share": credit.share,
                    "amount": credit.amount,
                    "pre": credit.pre,
                    "post": credit.post,
                }
            )
        return Response(OpportunityAttributionSerializer(body).data)


class ListScorecardView(generics.GenericAPIView):
    """The list scorecard of the /lists/compare/ page: the same numbers, as JSON."""

    filter_backends: list = []
    pagination_class = None

    @extend_schema(
        operation_id="lists_compare_retrieve",
        parameters=[ScorecardQuerySerializer],
        responses={200: ScorecardResultSerializer, 400: BAD_PARAMETERS},
    )
    def get(self, request: Request) -> Response:
        """Each stage's headline KPI for up to three lists side by side (``list`` repeated),
        or one list over the period and the one before (``compare=previous``), with the counts
        behind each rate. Each list's members at the period end are its column's ABM cohort
        (or the ``cohort`` asked for). More than three lists or an unknown id is a 400."""
        kpis = _engine()
        params = _parse(request, ScorecardQuerySerializer)
        raw_ids = [str(pk) for pk in params.pop("list")]
        period, filters = _period_and_filters(params)
        columns, problems = selectors.scorecard_columns(raw_ids, params.get("compare", ""), period)
        if problems:
            raise ValidationError(problems)
        rules = params.get("definitions") or kpis.definitions_resolve(None)
        rows = selectors.list_scorecard(columns, filters, rules)
        body = {
            "cohort": filters.cohort or "abm",
            "filters": kpis.filters_echo(filters),
            "definitions": kpis.definitions_echo(rules),
            "columns": [
                {
                    "key": c.key,
                    "list": {"id": c.list_id, "name": c.name},
                    "from": c.period.start,
                    "to": c.period.end,
                }
                for c in columns
            ],
            "kpis": [
                {
                    "id": r["spec"].id,
                    "stage": r["spec"].stage,
                    "label": r["spec"].label,
                    "unit": r["spec"].unit,
                    "values": {c.key: _item_counts(r[c.key]) for c in columns},
                }
                for r in rows
            ],
        }
        return Response(ScorecardResultSerializer(body).data)


def _item_counts(item: dict) -> dict:
    """A KPI result item's value and the counts behind it (not its labels, once per row)."""
    keys = ("value", "numerator", "denominator", "count", "total")
    return {k: item[k] for k in keys if k in item}


# --- holdout lift (issue 20) ----------------------------------------------------------------


class ListLiftView(generics.GenericAPIView):
    """A list's lift: treated against held-out accounts of its holdout over a period."""

    filter_backends: list = []
    pagination_class = None

    @extend_schema(
        operation_id="lists_lift_retrieve",
        parameters=[
            OpenApiParameter("id", int, OpenApiParameter.PATH, description="Account list id."),
            LiftQuerySerializer,
        ],
        responses={
            200: LiftResultSerializer,
            400: BAD_PARAMETERS,
            404: OpenApiResponse(
                ErrorDetailSerializer, description="No such list, or the list has no holdout."
            ),
        },
    )
    def get(self, request: Request, pk: int) -> Response:
        """Engaged, opportunity and win rates and pipeline and revenue per account of the
        treated and the held-out accounts, their absolute and relative difference with a 95 %
        interval (Newcombe for rates, Welch for amounts) and a minimum-sample warning; and the
        contamination: program touches on held-out accounts since the draw. The holdout, one
        grouped statement for every lift KPI and one count, whatever the list's size."""
        kpis = _engine()
        params = _parse(request, LiftQuerySerializer)
        rules = params.get("definitions") or kpis.definitions_resolve(None)
        try:
            holdout = kpis.holdout_of_list(pk)
        except kpis.NoHoldout:
            raise NotFound(
                f"List {pk} has no holdout (or does not exist): draw one in the admin "
                "(Accounts > Holdouts) or with `manage.py holdout_draw`."
            ) from None
        period = kpis.Period(start=params["from"], end=params["to"])
        try:
            result = kpis.holdout_lift(holdout, period, rules)
        except kpis.UnknownKpi as exc:
            raise ValidationError({"definitions": [str(exc)]}) from None
        result["contamination"] = holdout_contamination_counts(holdout)
        return Response(LiftResultSerializer(result).data)
