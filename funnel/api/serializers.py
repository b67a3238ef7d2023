"""Serializers of the funnel app; writes run the models' own validation."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from abm_site.api_base import ModelCleanSerializer

from ..models import AccountSnapshot, AccountStageChange, FunnelSnapshot, NpsResponse, Opportunity

_STAMPS = ["created_at", "updated_at"]


class OpportunitySerializer(ModelCleanSerializer):
    class Meta:
        model = Opportunity
        fields = [
            "id",
            "account",
            "name",
            "type",
            "status",
            "crm_stage",
            "amount",
            "created_on",
            "closed_on",
            "term_months",
            "contract_start",
            "contract_end",
            "source",
            "external_id",
            *_STAMPS,
        ]


class NpsResponseSerializer(ModelCleanSerializer):
    class Meta:
        model = NpsResponse
        fields = ["id", "account", "stakeholder", "score", "responded_on", "source"]
        fields += ["external_id", *_STAMPS]

    def validate(self, attrs: dict) -> dict:
        account = attrs.get("account", getattr(self.instance, "account", None))
        stakeholder = attrs.get("stakeholder", getattr(self.instance, "stakeholder", None))
        if stakeholder is not None and account is not None and stakeholder.account_id != account.pk:
            raise serializers.ValidationError(
                {"stakeholder": [f"Stakeholder {stakeholder.pk} belongs to another account."]}
            )
        return super().validate(attrs)


class AccountStageChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = AccountStageChange
        fields = ["id", "account", "changed_on", "from_stage", "to_stage", *_STAMPS]


class AccountSnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = AccountSnapshot
        fields = [
            "id",
            "date",
            "account",
            "stage",
            "is_target",
            "engagement_score",
            "relationship_score",
            "research_grade",
            "intent_surge",
            "touch_counts",
            "engagement_touches",
            "last_touch_at",
            "open_pipeline",
            *_STAMPS,
        ]


class FunnelSnapshotSerializer(serializers.ModelSerializer):
    kpis = serializers.SerializerMethodField()

    class Meta:
        model = FunnelSnapshot
        fields = ["id", "date", "window_days", "slice", "kpis", *_STAMPS]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_kpis(self, obj: FunnelSnapshot) -> dict:
        """The stored KPI result (the shape of ``GET /api/v1/kpis/``)."""
        return obj.kpis


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


class ImportRequestSerializer(serializers.Serializer):
    """``POST /api/v1/imports/`` (multipart): a CSV file and how to read it."""

    file = serializers.FileField(help_text="The CSV file (UTF-8, UTF-16 or Windows-1252).")
    kind = serializers.ChoiceField(choices=[])
    mapping = serializers.CharField(
        required=False,
        default="default",
        help_text="A shipped mapping profile name (e.g. a CRM export), 'default' for our "
        "column names, or a JSON object mapping our fields to your columns.",
    )
    dry_run = serializers.BooleanField(
        required=False, default=False, help_text="Check everything, store nothing."
    )
    source = serializers.CharField(
        required=False, max_length=50, help_text="Source of rows that name none."
    )

    def __init__(self, *args, **kwargs) -> None:
        from ..services import IMPORT_KINDS

        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(k, v.label) for k, v in IMPORT_KINDS.items()]

    def validate(self, attrs: dict) -> dict:
        """A mapping is a shipped name or inline JSON, never a server path."""
        import json

        from ..services import available_mappings

        mapping = attrs["mapping"].strip()
        if mapping.startswith("{"):
            try:
                attrs["mapping"] = json.loads(mapping)
            except json.JSONDecodeError as exc:
                raise serializers.ValidationError(
                    {"mapping": [f"Not valid JSON: {exc.msg} (character {exc.pos})."]}
                ) from exc
            if not isinstance(attrs["mapping"], dict):
                raise serializers.ValidationError(
                    {"mapping": ["A JSON mapping must be an object."]}
                )
            _check_mapping(attrs["kind"], attrs["mapping"])
            return attrs
        names = [name for name, _label in available_mappings(attrs["kind"])]
        if mapping not in names:
            raise serializers.ValidationError(
                {
                    "mapping": [
                        f"Unknown mapping '{mapping}' for {attrs['kind']}; "
                        f"choose one of {', '.join(names)} or send a JSON object."
                    ]
                }
            )
        attrs["mapping"] = mapping
        return attrs


def _check_mapping(kind: str, mapping: dict) -> None:
    """Resolve an inline mapping now so a malformed one is a 400 on ``mapping``.

    ``mapping_resolve`` reports most problems as ``CsvFileError``; a value of
    the wrong JSON type inside (a list where an object belongs) surfaces as a
    ``TypeError``/``AttributeError``/``ArithmeticError`` and is reported too.
    """
    from abm_site.csvio import CsvFileError

    from ..services import mapping_resolve

    try:
        mapping_resolve(kind, mapping)
    except CsvFileError as exc:
        raise serializers.ValidationError({"mapping": [str(exc)]}) from exc
    except (TypeError, AttributeError, ValueError, ArithmeticError) as exc:
        raise serializers.ValidationError(
            {"mapping": [f"Malformed mapping: a value has the wrong type ({exc})."]}
        ) from exc


class ImportRejectionSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="Physical line of the file (the header is 1).")
    column = serializers.CharField(help_text="Your column name.")
    reason = serializers.CharField()


class ImportReportSerializer(serializers.Serializer):
    """What an import did (``ImportReport.as_dict()``)."""

    kind = serializers.CharField()
    mapping = serializers.CharField()
    source = serializers.CharField()
    dry_run = serializers.BooleanField()
    encoding = serializers.CharField()
    delimiter = serializers.CharField()
    rows_read = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    rejected_count = serializers.IntegerField()
    rejected = ImportRejectionSerializer(many=True)
    warnings = serializers.ListField(child=serializers.CharField())
    errors = serializers.ListField(child=serializers.CharField())
    accounts_marked = serializers.IntegerField()
    summary = serializers.CharField()
