"""Serializers of the import API: the upload request and the report it answers with."""

import json

from rest_framework import serializers

from abm_site.csvio import CsvFileError

from ..selectors import IMPORT_KINDS, available_mappings, mapping_resolve


class ImportRequestSerializer(serializers.Serializer):
    """``POST /api/v1/imports/`` (multipart): a CSV file and how to read it."""

    file = serializers.FileField(help_text="The CSV file (UTF-8, UTF-16 or Windows-1252).")
    kind = serializers.ChoiceField(choices=[])
    mapping = serializers.CharField(
        required=False,
        default="auto",
        help_text="'auto' (the default) detects the mapping from the header; or a shipped "
        "profile name (salesforce, hubspot, bombora, linkedin-ads, google-ads, …), a mapping "
        "saved on the Imports page, 'default' for our column names, or a JSON object.",
    )
    date_order = serializers.ChoiceField(
        choices=["dmy", "mdy", "ymd"],
        required=False,
        help_text="How 01/10/2026 reads when the file cannot tell (each date column's order "
        "is otherwise decided from the whole file; all-ambiguous columns stop the import).",
    )
    dry_run = serializers.BooleanField(
        required=False, default=False, help_text="Check everything, store nothing."
    )
    source = serializers.CharField(
        required=False, max_length=50, help_text="Source of rows that name none."
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(k, v.label) for k, v in IMPORT_KINDS.items()]

    def validate(self, attrs: dict) -> dict:
        """A mapping is a shipped name or inline JSON, never a server path."""
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
        names = ["auto"] + [name for name, _label in available_mappings(attrs["kind"])]
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
    notes = serializers.ListField(
        child=serializers.CharField(),
        help_text="What the import decided: the mapping detected, date orders, conversions, "
        "owners and programs created.",
    )
    accounts_marked = serializers.IntegerField()
    summary = serializers.CharField()
