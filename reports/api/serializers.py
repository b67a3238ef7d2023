"""Query parameters and result shapes of the KPI endpoints.

The parameters are parsed by a Serializer (never by hand): each bad value is
answered with a 400 whose key names the parameter.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.utils import html

from funnel.choices import Cohort
from funnel.kpis import (
    DEFAULT_DAYS,
    PeriodError,
    UnknownDefinitions,
    definitions_resolve,
    period_between,
    unknown_ids,
)

MAX_ID = 2**63 - 1


class CommaListField(serializers.ListField):
    """A query-string list: ``?tier=1&tier=2`` or ``?tier=1,2``."""

    def get_value(self, dictionary):
        if html.is_html_input(dictionary):
            if self.field_name not in dictionary:
                return serializers.empty
            values = []
            for raw in dictionary.getlist(self.field_name):
                values.extend(part.strip() for part in raw.split(",") if part.strip())
            return values
        return dictionary.get(self.field_name, serializers.empty)


def _ids() -> CommaListField:
    return CommaListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        max_length=1000,
    )


def _known(kind: str, ids: list[int], what: str) -> list[int]:
    """The ids, checked to exist in one query; a 400 names the unknown ones."""
    missing = unknown_ids(kind, ids)
    if missing:
        raise serializers.ValidationError(
            f"Unknown {what} id{'s' if len(missing) > 1 else ''}: {', '.join(map(str, missing))}."
        )
    return sorted(set(ids))


class KpiQuerySerializer(serializers.Serializer):
    """``from``, ``to``, ``tier``, ``program``, ``owner``, ``cohort``, ``list`` of every KPI
    endpoint."""

    from_ = serializers.DateField(
        required=False,
        help_text="First day of the period (inclusive, YYYY-MM-DD). "
        f"Default: {DEFAULT_DAYS - 1} days before `to`.",
    )
    to = serializers.DateField(
        required=False, help_text="Last day of the period (inclusive). Default: yesterday."
    )
    tier = _ids()
    program = _ids()
    owner = _ids()
    cohort = serializers.ChoiceField(
        choices=Cohort.choices,
        required=False,
        help_text="abm, non_abm or all. Default: each KPI's own (abm for stages 1-4, "
        "all for stages 5-6).",
    )
    list_ = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="An account list id (GET /api/v1/lists/): its members as of the period end "
        "are the ABM cohort, the other accounts the non-ABM cohort. Default: the target list. "
        "The lift KPIs (lift_*) need it: they compare the list's holdout groups (null, with a "
        "`reason`, without it).",
    )
    definitions = serializers.CharField(
        required=False,
        max_length=50,
        help_text="The KPI definitions version, by name (v1, v2, ...) or id. Default: the "
        "version in force; every result names the one it was computed under.",
    )

    def get_fields(self) -> dict:
        fields = super().get_fields()
        # ``from`` is a Python keyword and ``list`` a builtin, but the API's parameter names.
        renamed = {"from_": "from", "list_": "list"}
        return {renamed.get(name, name): field for name, field in fields.items()}

    def validate_definitions(self, value: str):
        try:
            return definitions_resolve(value)
        except UnknownDefinitions as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate_tier(self, value: list[int]) -> list[int]:
        return _known("tier", value, "tier")

    def validate_program(self, value: list[int]) -> list[int]:
        return _known("program", value, "program")

    def validate_owner(self, value: list[int]) -> list[int]:
        return _known("owner", value, "owner")

    def validate_list(self, value: int) -> int:
        return _known("list", [value], "list")[0]

    def validate(self, attrs: dict) -> dict:
        try:
            period = period_between(attrs.get("from"), attrs.get("to"))
        except PeriodError as exc:
            raise serializers.ValidationError({exc.field: [f"{exc.message}."]}) from None
        attrs["from"], attrs["to"] = period.start, period.end
        return attrs


class KpiListQuerySerializer(KpiQuerySerializer):
    """The list endpoint also takes ``id``: the KPIs wanted (default: all)."""

    id = CommaListField(
        child=serializers.CharField(max_length=100),
        required=False,
        max_length=200,
        help_text="KPI ids (repeat or comma-separate); default: the whole catalogue.",
    )

    def validate_id(self, value: list[str]) -> list[str]:
        from funnel.kpis import REGISTRY

        unknown = sorted({v for v in value if v not in REGISTRY})
        if unknown:
            raise serializers.ValidationError(f"Unknown KPI id(s): {', '.join(unknown)}.")
        return list(dict.fromkeys(value))


class KpiSeriesQuerySerializer(KpiQuerySerializer):
    """The series endpoint also takes ``bucket`` and ``previous``."""

    bucket = serializers.ChoiceField(
        choices=["week", "month"],
        default="week",
        help_text="week: 7-day windows ending on `to`; month: calendar months, the last ending "
        "on `to`. As many as cover the period, at most 53 weeks or 24 months.",
    )
    previous = serializers.BooleanField(
        default=False,
        help_text="Also the previous period's buckets (as many), under `previous`.",
    )


# --- result shapes (for the schema) -------------------------------------------


class KpiPeriodSerializer(serializers.Serializer):
    from_ = serializers.DateField()
    to = serializers.DateField()
    ends_after_today = serializers.BooleanField(
        required=False,
        help_text="KPI results and series: the period ends after today, so the days after "
        "today have no data yet (counts and rates cover only part of it).",
    )
    starts_before_data = serializers.BooleanField(
        required=False,
        help_text="KPI results and series: the period starts before the first day with data "
        "(`data_start`), or there is no data; its counts are partly empty and a change "
        "against it is no change.",
    )
    data_start = serializers.DateField(
        required=False,
        allow_null=True,
        help_text="The first day with data: the earliest touch or opportunity creation.",
    )

    def get_fields(self) -> dict:
        fields = super().get_fields()
        return {("from" if name == "from_" else name): field for name, field in fields.items()}


class KpiFiltersSerializer(serializers.Serializer):
    cohort = serializers.CharField(help_text='The requested cohort, or "default".')
    tier = serializers.ListField(child=serializers.IntegerField())
    program = serializers.ListField(child=serializers.IntegerField())
    owner = serializers.ListField(child=serializers.IntegerField())
    list = serializers.IntegerField(
        required=False, help_text="The account list standing in for the target list, if any."
    )


def _number() -> serializers.FloatField:
    return serializers.FloatField(required=False, allow_null=True)


class KpiItemSerializer(serializers.Serializer):
    """One KPI: its catalogue entry, its value and what the value is made of."""

    id = serializers.CharField()
    stage = serializers.IntegerField(min_value=0, max_value=6)
    label = serializers.CharField()
    unit = serializers.ChoiceField(choices=["count", "ratio", "money", "days", "score", "map"])
    kind = serializers.ChoiceField(choices=["activity", "outcome"])
    r = serializers.ChoiceField(choices=["reputation", "relationship", "revenue"])
    definition = serializers.CharField()
    cohort = serializers.CharField()
    value = serializers.JSONField(
        allow_null=True, help_text="A number, null, or an object for unit map."
    )
    numerator = _number()
    denominator = _number()
    count = _number()
    total = _number()
    by_position = serializers.DictField(child=_number(), required=False)
    pending = serializers.IntegerField(
        required=False, help_text="Renewal rate (version 2): contracts still in their grace window."
    )
    reason = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="Why the value is null: a lift KPI without a list filter or on a list "
        "without a holdout; an attribution KPI on a database that cannot attribute (SQLite). "
        "Null or absent when there is a value.",
    )
    treated = serializers.DictField(
        required=False,
        allow_null=True,
        help_text="Lift KPIs: the treated accounts' `n`, `numerator` (rates) or `total` "
        "(amounts) and `value`.",
    )
    held_out = serializers.DictField(
        required=False, allow_null=True, help_text="Lift KPIs: the held-out accounts', likewise."
    )
    difference = serializers.FloatField(
        required=False, allow_null=True, help_text="Lift KPIs: treated minus held out (= value)."
    )
    relative_difference = serializers.FloatField(
        required=False,
        allow_null=True,
        help_text="Lift KPIs: the difference over the held-out value (null when it is 0).",
    )
    ci95 = serializers.DictField(
        required=False,
        allow_null=True,
        help_text="Lift KPIs: 95 % interval of the difference, `low`, `high` and `method` "
        "(`newcombe` for rates, `welch` for amounts per account).",
    )
    warning = serializers.CharField(
        required=False, allow_null=True, help_text="Lift KPIs: a minimum-sample warning."
    )


class KpiDefinitionsSerializer(serializers.Serializer):
    """The definitions version a result was computed under."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    generation = serializers.IntegerField(help_text="The formula generation: 1 or 2.")


class KpiResultSerializer(serializers.Serializer):
    period = KpiPeriodSerializer()
    filters = KpiFiltersSerializer()
    definitions = KpiDefinitionsSerializer()
    kpis = KpiItemSerializer(many=True)


class KpiSeriesPointSerializer(serializers.Serializer):
    """One bucket: its days, and the KPI's value and parts as ``compute`` gives them."""

    from_ = serializers.DateField()
    to = serializers.DateField()
    value = serializers.JSONField(allow_null=True)
    numerator = _number()
    denominator = _number()
    count = _number()
    total = _number()

    def get_fields(self) -> dict:
        fields = super().get_fields()
        return {("from" if name == "from_" else name): field for name, field in fields.items()}


class KpiSeriesSerializer(serializers.Serializer):
    """A KPI's live series: each point is the KPI computed for that bucket alone."""

    id = serializers.CharField()
    label = serializers.CharField()
    unit = serializers.CharField()
    bucket = serializers.ChoiceField(choices=["week", "month"])
    period = KpiPeriodSerializer()
    filters = KpiFiltersSerializer()
    definitions = KpiDefinitionsSerializer()
    points = KpiSeriesPointSerializer(many=True)
    previous = KpiSeriesPointSerializer(many=True, required=False)


class TimelineEntrySerializer(serializers.Serializer):
    """One event of an account's history; ``object`` is the row as its own resource shows it."""

    type = serializers.ChoiceField(choices=["touch", "opportunity", "stage_change", "nps_response"])
    id = serializers.IntegerField()
    occurred_at = serializers.DateTimeField()
    summary = serializers.CharField()
    object = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_object(self, entry: dict) -> dict:
        return entry["object"]


# --- attribution (issue 14) -----------------------------------------------------------------


def _model_field() -> serializers.ChoiceField:
    from funnel.kpis import ATTRIBUTION_MODELS

    return serializers.ChoiceField(
        choices=list(ATTRIBUTION_MODELS),
        required=False,
        help_text="The attribution model: first, last, linear, time_decay (half-life of the "
        "definitions version), u_shaped (40/20/40) or w_shaped (30/30/30/10). Default: the "
        "definitions version's attribution_model.",
    )


class AttributionQuerySerializer(KpiQuerySerializer):
    """The KPI parameters and ``model``."""

    model = _model_field()


class ScorecardQuerySerializer(KpiQuerySerializer):
    """The KPI parameters, with ``list`` repeated (the lists compared) and ``compare``."""

    list_ = CommaListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        min_length=1,
        max_length=1000,
        help_text="Up to three account list ids (GET /api/v1/lists/), `?list=1&list=2` or "
        "`?list=1,2`: each list's members at the period end are its column's ABM cohort.",
    )
    compare = serializers.ChoiceField(
        choices=[("previous", "previous")],
        required=False,
        help_text="`previous`: one list over the period and the period before it (two columns).",
    )

    def validate_list(self, value: list[int]) -> list[int]:
        """Existence and the count of lists are checked with the page's messages, in the view."""
        return value


class ListRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ScorecardColumnSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="The key of this column in each KPI's `values`.")
    list = ListRefSerializer(help_text="The account list (id and name).")
    from_ = serializers.DateField()
    to = serializers.DateField()

    def get_fields(self) -> dict:
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields


class ScorecardRowSerializer(serializers.Serializer):
    id = serializers.CharField()
    stage = serializers.IntegerField()
    label = serializers.CharField()
    unit = serializers.CharField()
    values = serializers.DictField(
        child=serializers.DictField(),
        help_text="Column key -> the KPI's result item in the KPI shape: `value` and, for a "
        "rate, `numerator`/`denominator`; for a count or sum, `count`.",
    )


class ScorecardResultSerializer(serializers.Serializer):
    """The list scorecard: a column per list (or period), a row per stage headline KPI."""

    cohort = serializers.CharField()
    filters = serializers.DictField()
    definitions = serializers.DictField()
    columns = ScorecardColumnSerializer(many=True)
    kpis = ScorecardRowSerializer(many=True)


class OpportunityAttributionQuerySerializer(serializers.Serializer):
    """``model`` and ``definitions`` of one opportunity's credits."""

    model = _model_field()
    definitions = serializers.CharField(
        required=False, max_length=50, help_text="The KPI definitions version (name or id)."
    )

    def validate_definitions(self, value: str):
        return KpiQuerySerializer.validate_definitions(self, value)


def _money() -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=16, decimal_places=2)


class ProgramRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class AttributionRowSerializer(serializers.Serializer):
    """One program's credit; ``program`` null is "no program" (no program touch in the
    window)."""

    program = ProgramRefSerializer(allow_null=True)
    pipeline = _money()
    pipeline_opportunities = serializers.IntegerField()
    revenue = _money()
    revenue_opportunities = serializers.IntegerField()
    revenue_pre = _money()
    revenue_post = _money()


class AttributionTotalsSerializer(serializers.Serializer):
    pipeline = _money()
    revenue = _money()


class AttributionResultSerializer(serializers.Serializer):
    """Credits by program; rows (with "no program") add up to ``totals``, which are the
    period's pipeline (sum of new-business opportunities created) and new revenue won."""

    period = KpiPeriodSerializer()
    filters = KpiFiltersSerializer()
    definitions = KpiDefinitionsSerializer()
    model = serializers.CharField()
    lookback_days = serializers.IntegerField()
    half_life_days = serializers.FloatField()
    cohort = serializers.CharField()
    programs = AttributionRowSerializer(many=True)
    selected = AttributionTotalsSerializer(
        help_text="The filter's programs together (all programs without a program filter)."
    )
    totals = AttributionTotalsSerializer()


class OpportunityCreditSerializer(serializers.Serializer):
    program = ProgramRefSerializer(allow_null=True)
    share = serializers.DecimalField(max_digits=6, decimal_places=4)
    amount = _money()
    pre = _money()
    post = _money()


class OpportunityAttributionSerializer(serializers.Serializer):
    """How one opportunity's amount is credited: the pipeline credit (window before its
    creation day) and, for a won deal, the revenue credit (window before its close)."""

    opportunity = serializers.IntegerField()
    amount = _money()
    model = serializers.CharField()
    definitions = KpiDefinitionsSerializer()
    pipeline = OpportunityCreditSerializer(many=True)
    revenue = OpportunityCreditSerializer(many=True)


# --- score breakdowns (issue 20) ------------------------------------------------------------


class AccountScoresQuerySerializer(serializers.Serializer):
    """``date`` and ``definitions`` of one account's score breakdowns."""

    date = serializers.DateField(
        required=False,
        help_text="The day the scores are as of (its end, YYYY-MM-DD). Default: the date of "
        "the account's latest snapshot, or today when it has none (`date_source` says which).",
    )
    definitions = serializers.CharField(
        required=False,
        max_length=50,
        help_text="The KPI definitions version (name or id). Default: the default version, "
        "the one the nightly snapshots use.",
    )

    def validate_definitions(self, value: str):
        return KpiQuerySerializer.validate_definitions(self, value)


class ScoreWindowSerializer(serializers.Serializer):
    start = serializers.DateTimeField(
        source="window_start", help_text="First instant read (inclusive)."
    )
    end = serializers.DateTimeField(
        source="window_end", help_text="End of the day the score is as of (exclusive)."
    )


class SignalPartSerializer(serializers.Serializer):
    """One touch kind's share: ``count * weight * decay * scale == contribution``."""

    kind = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()
    weight = serializers.FloatField()
    decay = serializers.FloatField(
        help_text="Mean decay factor of the kind's touches (1.0: the score does not decay)."
    )
    contribution = serializers.FloatField(help_text="Points of the score, in score units.")


class WeightedBreakdownSerializer(serializers.Serializer):
    """A weighted score by touch kind; ``total`` is min(``cap``, sum of contributions)."""

    total = serializers.FloatField()
    uncapped = serializers.FloatField(help_text="The contributions' sum before the cap.")
    cap = serializers.FloatField(allow_null=True, help_text="The score's ceiling; null: none.")
    scale = serializers.FloatField(help_text="Score units per weighted point.")
    window = ScoreWindowSerializer(source="*")
    parts = SignalPartSerializer(many=True)


class ResearchMeasureSerializer(serializers.Serializer):
    measure = serializers.CharField()
    label = serializers.CharField()
    recent = serializers.FloatField(help_text="Amount in the recent days.")
    baseline = serializers.FloatField(help_text="Amount in the baseline weeks.")
    ratio = serializers.FloatField(
        help_text="Recent weekly rate / baseline weekly mean (floored at 1 a week)."
    )


class ResearchWindowSerializer(ScoreWindowSerializer):
    split = serializers.DateTimeField(help_text="Where the baseline ends and the recent begins.")


class ResearchBreakdownSerializer(serializers.Serializer):
    """The research grade: one point per threshold the strongest ratio reaches."""

    total = serializers.IntegerField()
    strongest = serializers.FloatField()
    thresholds = serializers.ListField(child=serializers.FloatField())
    window = ResearchWindowSerializer(source="*")
    measures = ResearchMeasureSerializer(many=True)


class ScoreBreakdownsSerializer(serializers.Serializer):
    engagement_score = WeightedBreakdownSerializer()
    relationship_score = WeightedBreakdownSerializer()
    research_grade = ResearchBreakdownSerializer()


class AccountScoresSerializer(serializers.Serializer):
    """Every score of one account as of ``date``, with its working."""

    account = serializers.IntegerField()
    date = serializers.DateField()
    date_source = serializers.ChoiceField(
        choices=["query", "latest_snapshot", "today"],
        help_text="Where ``date`` came from: the query, the latest snapshot, or today.",
    )
    definitions = serializers.DictField(help_text="id, name and generation of the version.")
    scores = ScoreBreakdownsSerializer()


# --- holdout lift (issue 20) ----------------------------------------------------------------


class LiftQuerySerializer(serializers.Serializer):
    """``from``, ``to`` and ``definitions`` of a list's lift."""

    from_ = serializers.DateField(
        required=False,
        help_text="First day of the period (inclusive, YYYY-MM-DD). "
        f"Default: {DEFAULT_DAYS - 1} days before `to`.",
    )
    to = serializers.DateField(
        required=False, help_text="Last day of the period (inclusive). Default: yesterday."
    )
    definitions = serializers.CharField(
        required=False,
        max_length=50,
        help_text="The KPI definitions version (name or id); the lift KPIs exist from "
        "generation 2 on. Default: the version in force.",
    )

    def get_fields(self) -> dict:
        fields = super().get_fields()
        return {("from" if name == "from_" else name): f for name, f in fields.items()}

    def validate_definitions(self, value: str):
        return KpiQuerySerializer.validate_definitions(self, value)

    def validate(self, attrs: dict) -> dict:
        return KpiQuerySerializer.validate(self, attrs)


class LiftGroupSerializer(serializers.Serializer):
    n = serializers.IntegerField(help_text="Accounts in the group.")
    numerator = serializers.IntegerField(
        required=False, help_text="Rates: accounts with the outcome."
    )
    total = serializers.FloatField(required=False, help_text="Amounts: the group's sum.")
    value = serializers.FloatField(
        allow_null=True, help_text="The rate, or the amount per account."
    )


class LiftIntervalSerializer(serializers.Serializer):
    low = serializers.FloatField()
    high = serializers.FloatField()
    method = serializers.ChoiceField(
        choices=[("newcombe", "newcombe"), ("welch", "welch")],
        help_text="newcombe: Newcombe's hybrid score interval (rates); welch: Welch's t "
        "interval (amounts per account).",
    )


class LiftKpiSerializer(serializers.Serializer):
    """One lift KPI: the catalogue's item, as ``GET /api/v1/kpis/?list=`` gives it."""

    id = serializers.CharField()
    label = serializers.CharField()
    unit = serializers.CharField()
    definition = serializers.CharField()
    value = serializers.FloatField(allow_null=True, help_text="The difference (the KPI's value).")
    reason = serializers.CharField(
        allow_null=True, help_text="Why the value is null (a holdout without accounts)."
    )
    treated = LiftGroupSerializer()
    held_out = LiftGroupSerializer()
    difference = serializers.FloatField(allow_null=True, help_text="Treated minus held out.")
    relative_difference = serializers.FloatField(
        allow_null=True, help_text="The difference over the held-out value (null when it is 0)."
    )
    ci95 = LiftIntervalSerializer(allow_null=True, help_text="95 % interval of the difference.")
    warning = serializers.CharField(allow_null=True, help_text="A minimum-sample warning.")


class LiftHoldoutSerializer(serializers.Serializer):
    list = serializers.IntegerField()
    seed = serializers.CharField()
    share = serializers.FloatField()
    drawn_on = serializers.DateField()
    treated = serializers.IntegerField()
    held_out = serializers.IntegerField()


class LiftContaminationSerializer(serializers.Serializer):
    touches = serializers.IntegerField(
        help_text="Program touches on held-out accounts since the draw."
    )
    accounts = serializers.IntegerField(help_text="Held-out accounts those touches reached.")


class LiftResultSerializer(serializers.Serializer):
    period = serializers.DictField(child=serializers.DateField())
    definitions = serializers.DictField()
    holdout = LiftHoldoutSerializer()
    contamination = LiftContaminationSerializer()
    kpis = LiftKpiSerializer(many=True)


# --- score weights (issue 20) ---------------------------------------------------------------


def _base_version(value: str):
    try:
        return definitions_resolve(value or None)
    except UnknownDefinitions as exc:
        raise serializers.ValidationError(str(exc)) from None


class WeightsQuerySerializer(serializers.Serializer):
    """``base``: the version whose weights and windows to read."""

    base = serializers.CharField(
        required=False,
        max_length=50,
        help_text="A definitions version (name or id). Default: the version in force.",
    )

    def validate_base(self, value: str):
        return _base_version(value)


class WeightsChangeSerializer(serializers.Serializer):
    """A change of weights and windows on a base version."""

    base = serializers.CharField(
        required=False,
        max_length=50,
        help_text="The version to change (name or id); it is never edited. Default: the "
        "version in force.",
    )
    params = serializers.DictField(
        help_text="The weights and windows to change (GET /api/v1/weights/ lists them, e.g. "
        '`{"engagement_weights": {"form_fill": 8}, "engagement_window_days": 60}`); a weight '
        "map changes the kinds it names (null removes a kind: it then weighs the default); "
        "every other parameter keeps the base's value."
    )

    def validate_base(self, value: str):
        return _base_version(value)

    def validate_params(self, value: dict) -> dict:
        from reports.weights import EDITABLE

        unknown = sorted(set(value) - set(EDITABLE))
        if unknown:
            raise serializers.ValidationError(
                f"Not a weight or window: {', '.join(unknown)}; use {', '.join(EDITABLE)}."
            )
        return value


class WeightsPreviewRequestSerializer(WeightsChangeSerializer):
    """The change, and the period whose KPIs the preview compares."""

    from_ = serializers.DateField(
        required=False, help_text="First day of the period compared. Default: the pages' default."
    )
    to = serializers.DateField(required=False, help_text="Last day of the period compared.")

    def get_fields(self) -> dict:
        fields = super().get_fields()
        return {("from" if name == "from_" else name): f for name, f in fields.items()}


class WeightsSaveSerializer(WeightsChangeSerializer):
    """The change as a new definitions version, after its preview."""

    name = serializers.CharField(max_length=50, help_text="The new version's name (unique).")
    note = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="What changed and why."
    )
    make_default = serializers.BooleanField(
        default=False, help_text="Make the new version the default (pages, API, recompute)."
    )
    previewed = serializers.CharField(
        max_length=64,
        help_text="The `digest` of the preview (POST /api/v1/weights/preview/) of exactly "
        "these parameters on this base: a change is saved only after it was previewed.",
    )


class WeightsSerializer(serializers.Serializer):
    definitions = serializers.DictField(help_text="id, name, generation and is_default.")
    params = serializers.DictField(help_text="The version's weights and windows.")


class WeightsPreviewSerializer(serializers.Serializer):
    base = serializers.DictField(help_text="The version changed: id, name, generation.")
    digest = serializers.CharField(help_text="Send it as `previewed` to save this change.")
    changed_params = serializers.ListField(
        child=serializers.CharField(), help_text="Parameters changed (`map.kind` for a weight)."
    )
    period = serializers.DictField(child=serializers.DateField())
    accounts = serializers.DictField(
        help_text="As of the period's end: accounts compared, and how many would change "
        "engagement score, relationship score, research grade, stage, start or stop surging."
    )
    kpis = serializers.ListField(
        child=serializers.DictField(),
        help_text="Each headline and score KPI: `id`, `label`, `unit`, `old`, `new`, `changed`.",
    )


class WeightsSavedSerializer(serializers.Serializer):
    definitions = serializers.DictField(
        help_text="The new version: id, name, generation, is_default, derived_from."
    )
    changed_params = serializers.ListField(child=serializers.CharField())
    note = serializers.CharField()
