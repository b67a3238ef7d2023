"""Serializers of the accounts app."""

from rest_framework import serializers

from ..domains import normalize_domain
from ..models import Account, Stakeholder, Tier


class TierSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tier
        fields = ["id", "name", "rank", "created_at", "updated_at"]


class AccountSerializer(serializers.ModelSerializer):
    tier_name = serializers.CharField(source="tier.name", read_only=True, default=None)

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
        domain = normalize_domain(value)
        qs = Account.objects.filter(domain=domain)
        if self.instance is not None:
            qs = qs.exclude(pk=self.instance.pk)
        if domain and qs.exists():
            raise serializers.ValidationError(f"Another account already has the domain {domain}.")
        return domain


class StakeholderSerializer(serializers.ModelSerializer):
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
