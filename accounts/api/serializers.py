"""Serializers of the accounts app; writes run the models' own validation."""

from decimal import Decimal

from rest_framework import serializers

from abm_site.api_base import ModelCleanSerializer

from ..choices import FitGrade
from ..domains import normalize_domain
from ..models import Account, AccountList, ListMembership, Stakeholder, Tier


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


class AccountListSerializer(ModelCleanSerializer):
    members_today = serializers.IntegerField(
        read_only=True, help_text="Accounts on the list today."
    )

    class Meta:
        model = AccountList
        fields = [
            "id",
            "name",
            "kind",
            "description",
            "criteria",
            "tags",
            "owner",
            "is_target",
            "members_today",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["is_target"]


class ListMembershipSerializer(serializers.ModelSerializer):
    account_name = serializers.CharField(source="account.name", read_only=True)

    class Meta:
        model = ListMembership
        fields = ["id", "account", "account_name", "joined_on", "left_on"]


class ListMembersQuerySerializer(serializers.Serializer):
    on = serializers.DateField(
        required=False,
        help_text="Only the intervals covering this day (the members as of it). Default: all "
        "intervals, past ones too.",
    )


class ListMembersWriteSerializer(serializers.Serializer):
    """Add and remove members of a static list on one day."""

    add = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        max_length=10_000,
        help_text="Account ids that join the list on `on`.",
    )
    remove = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        max_length=10_000,
        help_text="Account ids that leave the list on `on` (their open interval closes).",
    )
    on = serializers.DateField(required=False, help_text="The day; default today.")

    def validate(self, attrs: dict) -> dict:
        wanted = set(attrs.get("add", [])) | set(attrs.get("remove", []))
        if not wanted:
            raise serializers.ValidationError({"add": ["Give account ids to add or remove."]})
        found = set(Account.objects.filter(pk__in=wanted).values_list("pk", flat=True))
        missing = sorted(wanted - found)
        if missing:
            raise serializers.ValidationError(
                {"add": [f"Unknown account ids: {', '.join(map(str, missing[:20]))}."]}
            )
        return attrs


class ListMembersResultSerializer(serializers.Serializer):
    joined = serializers.IntegerField()
    left = serializers.IntegerField()


class HoldoutDrawSerializer(serializers.Serializer):
    """A holdout draw: the share held out of each tier and fit-grade stratum, and the seed."""

    share = serializers.DecimalField(
        max_digits=4,
        decimal_places=3,
        min_value=Decimal("0.001"),
        max_value=Decimal("0.999"),
        help_text="Share held out, e.g. 0.2.",
    )
    seed = serializers.CharField(max_length=64, help_text="Any text; the same seed draws the same.")
    on = serializers.DateField(required=False, help_text="Draw from the members of this day.")
    replace = serializers.BooleanField(
        default=False, help_text="Drop the list's earlier draw first."
    )


class HoldoutSerializer(serializers.Serializer):
    """A list's holdout and how many accounts each group holds."""

    id = serializers.IntegerField()
    list = serializers.IntegerField(source="list_id")
    seed = serializers.CharField()
    share = serializers.DecimalField(max_digits=4, decimal_places=3)
    drawn_on = serializers.DateField()
    treated = serializers.IntegerField()
    held_out = serializers.IntegerField()
