"""Serializers of the engagement app; writes run the models' own validation."""

from rest_framework import serializers

from abm_site.api_base import ModelCleanSerializer

from ..models import IntentSignal, Program, Spend, Touch, Visitor

_STAMPS = ["created_at", "updated_at"]


def _stakeholder_of_account(attrs: dict, instance) -> None:
    """A row's stakeholder (or visitor's) must belong to the row's account."""
    account = attrs.get("account", getattr(instance, "account", None))
    stakeholder = attrs.get("stakeholder", getattr(instance, "stakeholder", None))
    if account is not None and stakeholder is not None and stakeholder.account_id != account.pk:
        raise serializers.ValidationError(
            {"stakeholder": [f"Stakeholder {stakeholder.pk} belongs to another account."]}
        )


class ProgramSerializer(ModelCleanSerializer):
    class Meta:
        model = Program
        fields = ["id", "name", "program_type", "budget", "starts_on", "ends_on", "target_tiers"]
        fields += _STAMPS


class SpendSerializer(ModelCleanSerializer):
    class Meta:
        model = Spend
        fields = ["id", "program", "spent_on", "amount", "channel", "category", "source"]
        fields += ["external_id", *_STAMPS]


class VisitorSerializer(ModelCleanSerializer):
    class Meta:
        model = Visitor
        fields = ["id", "anonymous_id", "account", "stakeholder", "first_seen_at", "identified_at"]
        fields += _STAMPS

    def validate(self, attrs: dict) -> dict:
        _stakeholder_of_account(attrs, self.instance)
        return super().validate(attrs)


class TouchSerializer(ModelCleanSerializer):
    class Meta:
        model = Touch
        fields = [
            "id",
            "account",
            "stakeholder",
            "program",
            "visitor",
            "kind",
            "channel",
            "direction",
            "occurred_at",
            "url",
            "asset",
            "funnel_position",
            "engagement_minutes",
            "cost",
            "quantity",
            "source",
            "external_id",
            *_STAMPS,
        ]

    def validate(self, attrs: dict) -> dict:
        _stakeholder_of_account(attrs, self.instance)
        return super().validate(attrs)


class IntentSignalSerializer(ModelCleanSerializer):
    class Meta:
        model = IntentSignal
        fields = [
            "id",
            "account",
            "topic",
            "is_competitor_topic",
            "score",
            "week",
            "provider_surge",
            "source",
            *_STAMPS,
        ]

    def validate_week(self, value):
        if value.weekday() != 0:
            raise serializers.ValidationError("Week must be a Monday (the start of the week).")
        return value


class TouchBulkRowSerializer(serializers.Serializer):
    """One touch of a bulk request (documentation of the row shape; the service validates).

    Name the account by ``account`` (id) or ``account_domain`` (or ``account_name``),
    or let ``stakeholder`` / ``stakeholder_email`` name it. A touch without
    ``external_id`` is keyed on a hash of its content, so a resend is a duplicate.
    """

    account = serializers.IntegerField(required=False, help_text="Account id.")
    account_domain = serializers.CharField(required=False)
    account_name = serializers.CharField(required=False)
    stakeholder = serializers.IntegerField(required=False, help_text="Stakeholder id.")
    stakeholder_email = serializers.EmailField(required=False)
    program = serializers.IntegerField(required=False, help_text="Program id.")
    program_name = serializers.CharField(required=False)
    kind = serializers.ChoiceField(choices=Touch._meta.get_field("kind").choices)
    channel = serializers.CharField(required=False, max_length=50)
    direction = serializers.ChoiceField(
        choices=Touch._meta.get_field("direction").choices, required=False
    )
    occurred_at = serializers.DateTimeField()
    url = serializers.CharField(required=False, max_length=2000)
    asset = serializers.CharField(required=False, max_length=255)
    funnel_position = serializers.ChoiceField(
        choices=Touch._meta.get_field("funnel_position").choices, required=False
    )
    engagement_minutes = serializers.DecimalField(max_digits=8, decimal_places=2, required=False)
    cost = serializers.DecimalField(max_digits=12, decimal_places=2, required=False)
    quantity = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="Events the row stands for (default 1): an aggregated row, such as an "
        "account's ad impressions of a day, carries their number.",
    )
    source = serializers.CharField(required=False, max_length=50)
    external_id = serializers.CharField(required=False, max_length=255)


class BulkRejectionSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the touch in the request (from 0).")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Field name → reasons.",
    )


class TouchBulkResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Touches stored by this request.")
    duplicates = serializers.IntegerField(help_text="Touches already stored (or repeated).")
    rejected = BulkRejectionSerializer(many=True)
    rejected_count = serializers.IntegerField()
