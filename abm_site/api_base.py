"""Shared REST plumbing: model validation in serializers, constraint errors as 400s.

Every write of the API goes through the model's own rules (field validators,
``clean()``, the database constraints' ``validate()``), and a constraint that
the database still rejects (a race between two writers) comes back as a 400
that names the field and the constraint's ``violation_error_message``, never
as a 500.
"""

import copy
import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import import_module
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DEFAULT_DB_ALIAS, IntegrityError, models, transaction
from django.db.models import ProtectedError, Q
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import APIException

from .idempotency import IdempotentCreateMixin

NON_FIELD = "non_field_errors"

#: The error body DRF answers with for 401/403/404/409/413/415/422/429/503 (``{"detail": ...}``);
#: ``abm_site.schema`` documents it on every operation.
ErrorDetailSerializer = inline_serializer(
    name="ErrorDetail", fields={"detail": serializers.CharField()}
)


class IdField(forms.IntegerField):
    """A primary key: a positive integer in the range of a bigint."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


class IdInFilter(django_filters.BaseInFilter, django_filters.NumberFilter):
    """``<field>__in=1,2,3``: ids, comma-separated; anything else is a 400."""

    field_class = IdField


class _IdChoicesField(django_filters.fields.ModelMultipleChoiceField):
    def _check_values(self, value):
        # Out-of-range ids would reach the database (SQLite cannot bind them): refuse first.
        for pk in value:
            try:
                valid = 1 <= int(str(pk)) <= 2**63 - 1
            except ValueError:
                valid = False
            if not valid:
                raise forms.ValidationError(
                    self.error_messages["invalid_pk_value"],
                    code="invalid_pk_value",
                    params={"pk": pk},
                )
        return super()._check_values(value)


class IdChoicesFilter(django_filters.ModelMultipleChoiceFilter):
    """``<field>=1&<field>=2``: rows of a model by id; a value that is no id is a 400."""

    field_class = _IdChoicesField


class CharInFilter(django_filters.BaseInFilter, django_filters.CharFilter):
    """``<field>__in=a,b``: exact strings, comma-separated."""


class DateTimeRangeFilter(django_filters.IsoDateTimeFromToRangeFilter):
    """``<field>_after`` / ``<field>_before`` (ISO 8601), bounds converted to UTC.

    Python accepts UTC offsets up to ±24 h, PostgreSQL only up to ±16 h, so
    bounds are normalised before they reach the database; a bound that
    leaves the representable range is a 400 naming the filter.
    """

    def filter(self, qs, value):
        if value:
            try:
                value = slice(_utc(value.start), _utc(value.stop))
            except OverflowError as exc:
                raise serializers.ValidationError(
                    {self.field_name: ["Date-time out of range."]}
                ) from exc
        return super().filter(qs, value)


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(dt.UTC)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This row is still referenced by other rows."
    default_code = "conflict"


def _q_fields(node: Q | tuple | Any) -> Iterator[tuple[str, str, Any]]:
    """(field, lookup, value) triples a Q condition refers to, left to right."""
    if isinstance(node, Q):
        for child in node.children:
            yield from _q_fields(child)
    elif isinstance(node, tuple) and len(node) == 2:
        key, value = node
        name, _, lookup = key.partition("__")
        yield name, lookup, value
        if isinstance(value, models.F):
            yield value.name, "", None


def constraint_field(constraint: models.BaseConstraint) -> str:
    """The field a constraint's violation is reported on.

    A unique constraint names its first own field (not ``account``,
    ``source`` or ``date``), so ``(source, external_id)`` reports on
    ``external_id`` and ``(account, email)`` on ``email``. A check constraint
    names the first field it compares by range (``closed_on >= created_on``,
    ``amount >= 0``), else the first it requires (``closed_on IS NOT NULL``),
    else the first it mentions.
    """
    fields = list(getattr(constraint, "fields", ()) or ())
    if fields:
        preferred = [f for f in fields if f not in ("account", "source", "date")]
        return (preferred or fields)[0]
    condition = getattr(constraint, "condition", None)
    if condition is None:
        return NON_FIELD
    triples = list(_q_fields(condition))
    ranged = [n for n, lookup, _v in triples if lookup in ("gt", "gte", "lt", "lte")]
    required = [n for n, lookup, v in triples if lookup == "isnull" and v is False]
    mentioned = [n for n, _lookup, _v in triples]
    return (ranged or required or mentioned or [NON_FIELD])[0]


def model_errors(instance: models.Model, exclude: set[str] | None = None) -> dict[str, list[str]]:
    """Run the model's validation; return ``{field: [messages]}`` (empty when valid).

    ``full_clean`` runs field validators, ``clean()`` and unique fields;
    constraints are validated one by one so each error is keyed on a field.
    """
    errors: dict[str, list[str]] = {}
    try:
        instance.full_clean(exclude=exclude, validate_constraints=False)
    except DjangoValidationError as exc:
        for field, messages in exc.message_dict.items():
            key = NON_FIELD if field == NON_FIELD_ERRORS else field
            errors.setdefault(key, []).extend(messages)
    for constraint in instance._meta.constraints:
        try:
            constraint.validate(type(instance), instance, using=DEFAULT_DB_ALIAS)
        except DjangoValidationError as exc:
            errors.setdefault(constraint_field(constraint), []).extend(exc.messages)
    return errors


class ModelCleanSerializer(serializers.ModelSerializer):
    """A ModelSerializer whose ``validate`` runs the model's own validation.

    DRF's generated unique-together validators are replaced by the model's
    constraints (one message per constraint, keyed on a field).
    """

    def get_validators(self) -> list:
        return list(getattr(getattr(self, "Meta", None), "validators", None) or [])

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        model = self.Meta.model
        many = {f.name for f in model._meta.many_to_many}
        instance = copy.copy(self.instance) if self.instance is not None else model()
        for name, value in attrs.items():
            if name not in many:
                setattr(instance, name, value)
        # Relations were already resolved (and checked) by the serializer fields.
        relations = {f.name for f in model._meta.fields if f.is_relation}
        errors = model_errors(instance, exclude=relations | many)
        if errors:
            raise serializers.ValidationError(errors)
        for name in attrs:
            if name not in many:
                attrs[name] = getattr(instance, name)  # keep what clean() normalised
        return attrs


def serializer_for(model: type[models.Model]) -> type[serializers.Serializer]:
    """The API serializer of ``model``: ``<app>.api.serializers.<Model>Serializer``.

    Found by convention, as NetBox does, so pages and APIs of a higher app
    (the account timeline, drill-downs) show a row exactly as its own
    resource does without importing another app's API modules.
    """
    module = import_module(f"{model._meta.app_label}.api.serializers")
    try:
        return getattr(module, f"{model.__name__}Serializer")
    except AttributeError:
        raise LookupError(f"{module.__name__} has no {model.__name__}Serializer") from None


def integrity_error_detail(model: type[models.Model], exc: IntegrityError) -> dict[str, list[str]]:
    """Map a database constraint violation to ``{field: [message]}``."""
    cause = exc.__cause__
    name = getattr(getattr(cause, "diag", None), "constraint_name", None) or ""
    # SQLite names the columns instead: "UNIQUE constraint failed: table.a, table.b".
    columns = _sqlite_unique_columns(str(cause or exc), model._meta.db_table)
    for constraint in model._meta.constraints:
        fields = getattr(constraint, "fields", ())
        if constraint.name == name or (
            columns and {model._meta.get_field(f).column for f in fields} == columns
        ):
            return {constraint_field(constraint): [constraint.get_violation_error_message()]}
    for field in model._meta.concrete_fields:
        if field.unique and name == f"{model._meta.db_table}_{field.column}_key":
            return {field.name: [f"A {model._meta.verbose_name} with this {field.name} exists."]}
        if field.is_relation and name and field.column in name:
            return {field.name: [f"The referenced {field.name} does not exist (any more)."]}
    return {NON_FIELD: [f"The database rejected this change: {name or 'constraint violated'}."]}


def _sqlite_unique_columns(message: str, table: str) -> set[str]:
    prefix = "UNIQUE constraint failed: "
    if not message.startswith(prefix):
        return set()
    names = [part.strip() for part in message[len(prefix) :].split(",")]
    return {n.split(".", 1)[1] for n in names if n.startswith(table + ".")}


@contextmanager
def constraint_errors_as_400(model: type[models.Model]) -> Iterator[None]:
    """Turn an ``IntegrityError`` raised inside into a 400 naming the field."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        raise serializers.ValidationError(integrity_error_detail(model, exc)) from exc


class ServiceModelViewSet(IdempotentCreateMixin, viewsets.ModelViewSet):
    """A ModelViewSet whose writes call the app's write services.

    ``create_service(**data)``, ``update_service(instance, **data)`` and
    ``delete_service(instance)`` default to the serializer's own save and the
    instance's delete; every write runs in a transaction and maps constraint
    violations to 400 and protected deletes to 409. Creates (and any other
    POST action) take an ``Idempotency-Key``.
    """

    create_service: Callable[..., models.Model] | None = None
    update_service: Callable[..., models.Model] | None = None
    delete_service: Callable[[models.Model], None] | None = None

    def perform_create(self, serializer: serializers.ModelSerializer) -> None:
        with constraint_errors_as_400(serializer.Meta.model):
            service = type(self).create_service
            if service is None:
                serializer.save()
            else:
                serializer.instance = service(**serializer.validated_data)

    def perform_update(self, serializer: serializers.ModelSerializer) -> None:
        with constraint_errors_as_400(serializer.Meta.model):
            service = type(self).update_service
            if service is None:
                serializer.save()
            else:
                serializer.instance = service(serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance: models.Model) -> None:
        try:
            with transaction.atomic():
                service = type(self).delete_service
                if service is None:
                    instance.delete()
                else:
                    service(instance)
        except ProtectedError as exc:
            names = sorted({obj._meta.verbose_name_plural for obj in exc.protected_objects})
            raise Conflict(
                f"Cannot delete this {instance._meta.verbose_name}: it still has "
                f"{', '.join(str(n) for n in names)}. Delete or reassign them first."
            ) from exc


def destroy_schema_with_conflict() -> Callable:
    """``@extend_schema`` for a destroy that may answer 409 (protected rows)."""
    return extend_schema(
        responses={204: None, 409: OpenApiResponse(ErrorDetailSerializer, "Still referenced.")}
    )
