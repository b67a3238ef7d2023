"""The score weights API (issue 20): read a definitions version's weights and windows,
preview a change (admins) and save it as a new version (admins). Split from
``reports.api.views`` for size."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from abm_site.idempotency import IdempotentCreateMixin
from funnel.models import DefinitionsVersion

from .serializers import (
    WeightsPreviewRequestSerializer,
    WeightsPreviewSerializer,
    WeightsQuerySerializer,
    WeightsSavedSerializer,
    WeightsSaveSerializer,
    WeightsSerializer,
)
from .views import BAD_PARAMETERS, _engine, _parse

# --- score weights (issue 20) ---------------------------------------------------------------


def _changed_params(base, given: dict) -> dict:
    """The change as whole parameters: a weight map's kinds merged into the base's map
    (a null weight removes the kind), scalars as given."""
    from funnel.kpis import WEIGHT_MAPS

    params = dict(given)
    for name in WEIGHT_MAPS:
        if isinstance(given.get(name), dict):
            merged = {**base.params.get(name, {}), **given[name]}
            params[name] = {kind: w for kind, w in merged.items() if w is not None}
    return params


def _invalid(exc) -> ValidationError:
    """``DefinitionsInvalid`` as a 400 keyed by ``params``, each message naming its parameter."""
    return ValidationError({"params": exc.errors})


def _version_echo(version) -> dict:
    return {
        "id": version.pk,
        "name": version.name,
        "generation": version.generation,
        "is_default": version.is_default,
    }


class WeightsView(IdempotentCreateMixin, generics.GenericAPIView):
    """The score weights and windows: read (viewers), or save a change as a new definitions
    version (admins), as the weights page does."""

    filter_backends: list = []
    pagination_class = None

    @extend_schema(
        operation_id="weights_retrieve",
        parameters=[WeightsQuerySerializer],
        responses={200: WeightsSerializer, 400: BAD_PARAMETERS},
    )
    def get(self, request: Request) -> Response:
        """The weights and windows of a definitions version (the one in force by default):
        the parameters the weights page and ``POST`` here change."""
        from reports.weights import score_params

        base = _parse(request, WeightsQuerySerializer).get("base") or _engine().definitions_resolve(
            None
        )
        body = {"definitions": _version_echo(base), "params": score_params(base)}
        return Response(WeightsSerializer(body).data)

    @extend_schema(
        operation_id="weights_create",
        request=WeightsSaveSerializer,
        responses={201: WeightsSavedSerializer, 400: BAD_PARAMETERS},
    )
    def post(self, request: Request) -> Response:
        """Save a previewed change of weights and windows as a new definitions version derived
        from ``base`` (never editing it); the default moves only with ``make_default``. Nothing
        is recomputed: results under the base version stay reproducible with
        ``?definitions=<base>``. Admins only."""
        from reports.weights import params_digest

        kpis = _engine()
        body = WeightsSaveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        base = data.get("base") or kpis.definitions_resolve(None)
        params = _changed_params(base, data["params"])
        merged = {**base.params, **params}
        errors = kpis.definitions_params_errors(merged)
        if errors:
            raise ValidationError({"params": errors})
        if data["previewed"] != _digest(base, merged, params_digest):
            raise ValidationError(
                {
                    "previewed": [
                        "Not the digest of a preview of these parameters on this base: POST "
                        "them to /api/v1/weights/preview/ first and send its digest."
                    ]
                }
            )
        name = data["name"].strip()
        if DefinitionsVersion.objects.filter(name=name).exists():
            raise ValidationError(
                {"name": [f"A version is already named {name!r}; choose another."]}
            )
        try:
            saved = kpis.weights_save(
                base, params, name=name, note=data["note"], make_default=data["make_default"]
            )
        except kpis.DefinitionsInvalid as exc:
            raise _invalid(exc) from None
        answer = {
            "definitions": {**_version_echo(saved), "derived_from": base.name},
            "changed_params": kpis.weights_changed(base.params, saved.params),
            "note": saved.note,
        }
        return Response(WeightsSavedSerializer(answer).data, status=201)


def _digest(base, merged: dict, params_digest) -> str:
    """What a preview of ``merged`` on ``base`` answers as its digest (and a save expects)."""
    return params_digest({"base": base.pk, "params": merged})


class WeightsPreviewView(IdempotentCreateMixin, generics.GenericAPIView):
    """What a change of weights and windows would do, before saving it (admins)."""

    filter_backends: list = []
    pagination_class = None

    @extend_schema(
        operation_id="weights_preview_create",
        request=WeightsPreviewRequestSerializer,
        responses={200: WeightsPreviewSerializer, 400: BAD_PARAMETERS},
    )
    def post(self, request: Request) -> Response:
        """On the current data, computed set-based (a fixed number of queries): how many
        accounts would change engagement score, relationship score, research grade, surge or
        stage as of the period's end, and each headline and score KPI old against new over the
        period; the weights page's preview. Nothing is saved. Admins only."""
        from reports.weights import params_digest, preview_kpi_ids

        kpis = _engine()
        body = WeightsPreviewRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        base = data.get("base") or kpis.definitions_resolve(None)
        params = _changed_params(base, data["params"])
        default = kpis.default_period()
        end = data.get("to") or default.end
        start = data.get("from") or (end - (default.end - default.start))
        if start > end:
            raise ValidationError({"from": ["`from` must be on or before `to`."]})
        period = kpis.Period(start, end)
        try:
            preview = kpis.weights_preview(base, params, period, preview_kpi_ids())
        except kpis.DefinitionsInvalid as exc:
            raise _invalid(exc) from None
        accounts = preview.accounts
        answer = {
            "base": kpis.definitions_echo(base),
            "digest": _digest(base, preview.params, params_digest),
            "changed_params": preview.changed_params,
            "period": {"from": period.start, "to": period.end},
            "accounts": {
                "day": accounts.day.isoformat(),
                "accounts": accounts.accounts,
                "engagement_score": accounts.engagement_score,
                "relationship_score": accounts.relationship_score,
                "research_grade": accounts.research_grade,
                "surge_started": accounts.surge_started,
                "surge_stopped": accounts.surge_stopped,
                "stage": accounts.stage,
            },
            "kpis": [
                {
                    "id": m.id,
                    "label": m.label,
                    "unit": m.unit,
                    "old": m.old,
                    "new": m.new,
                    "changed": m.changed,
                }
                for m in preview.kpis
            ],
        }
        return Response(WeightsPreviewSerializer(answer).data)
