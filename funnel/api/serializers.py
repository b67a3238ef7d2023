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
        fields = ["id", "date", "account", *AccountSnapshot.FIGURES, "definitions", *_STAMPS]


class FunnelSnapshotSerializer(serializers.ModelSerializer):
    kpis = serializers.SerializerMethodField()
    definitions = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = FunnelSnapshot
        fields = [
            "id",
            "date",
            "window_days",
            "slice",
            "definitions",
            "revision",
            "reason",
            "kpis",
            *_STAMPS,
        ]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_kpis(self, obj: FunnelSnapshot) -> dict:
        """The stored KPI result (the shape of ``GET /api/v1/kpis/``)."""
        return obj.kpis


class KpiRestatementSerializer(serializers.Serializer):
    id = serializers.CharField()
    label = serializers.CharField()
    unit = serializers.CharField(allow_null=True)
    from_ = serializers.JSONField(allow_null=True, help_text="The value before.")
    to = serializers.JSONField(allow_null=True, help_text="The value after.")

    def get_fields(self) -> dict:
        fields = super().get_fields()
        return {("from" if name == "from_" else name): field for name, field in fields.items()}


class SnapshotRevisionSerializer(serializers.Serializer):
    """One revision of a published snapshot and what it restated."""

    revision = serializers.IntegerField()
    reason = serializers.CharField()
    published_at = serializers.DateTimeField()
    changes = KpiRestatementSerializer(many=True)
