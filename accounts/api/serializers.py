"""Serializers of the accounts app; writes run the models' own validation."""

from rest_framework import serializers

from abm_site.api_base import ModelCleanSerializer

from ..choices import FitGrade
from ..domains import normalize_domain
from ..models import Account, Stakeholder, Tier


class TierSerializer(ModelCleanSerializer):
    class Meta:
        model = Tier
        fields = ["id", "name", "rank", "created_at", "updated_at"]


class AccountSerializer(ModelCleanSerializer):
    tier_name = serializers.CharField(source="tier.name", read_only=True, allow_null=True)
    fit_grade = serializers.ChoiceField(
        choices=FitGrade.choices, allow_blank=True, read_only=True, help_text="Blank: not graded."
    )

    class Meta:
        model = Account
        fields = [
            "id",
            "name",
            "domain",
            "industry",
            "employees",
            "annual_revenue",
            "country",
            "tier",
            "tier_name",
            "fit_score",
            "fit_grade",
            "is_target",
            "targeted_on",
            "untargeted_on",
            "program_type",
            "owner",
            "churned_on",
            "source",
            "external_id",
            "needs_recompute",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["fit_score", "fit_grade", "needs_recompute"]

    def validate_domain(self, value: str | None) -> str | None:
        return normalize_domain(value)

    def validate(self, attrs: dict) -> dict:
        """Re-targeting starts a new interval: the old ``untargeted_on`` does not carry over
        (``account_update`` also starts it today unless ``targeted_on`` is given)."""
        old = self.instance
        if old is not None and attrs.get("is_target") is True and not old.is_target:
            attrs.setdefault("untargeted_on", None)
        return super().validate(attrs)


class StakeholderSerializer(ModelCleanSerializer):
    class Meta:
        model = Stakeholder
        fields = [
            "id",
            "account",
            "name",
            "email",
            "title",
            "buying_role",
            "known_since",
            "source",
            "external_id",
            "created_at",
            "updated_at",
        ]

    def validate_email(self, value: str | None) -> str | None:
        return (value or "").strip().lower() or None
