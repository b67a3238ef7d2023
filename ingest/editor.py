"""The Imports page's mapping editor: an uploaded file's columns → our fields, saved by name.

The editor starts from a mapping (the one detected from the header, or the
one the user chose): each column of the file gets the field(s) that mapping
sends it to. The user changes them, adds constants and the date order, and
previews (a dry run of ``csv_import`` with the edited mapping). The result
is a mapping object like a JSON mapping file, keeping the starting mapping's
value translations and options; "save as profile" stores it as a
:class:`~ingest.models.SavedMapping`, usable by name on the page,
``import_csv --mapping NAME`` and the import API.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from abm_site.csvio import COUNT_PREFIX, DATE_ORDERS, CsvFileError, Mapping, normalize_key
from engagement.choices import TouchKind

from .imports import AUTO, mapping_resolve, missing_required
from .kinds import IMPORT_KINDS
from .models import SavedMapping
from .profiles import MAPPINGS

#: One column feeding several fields is one choice: ``crm_stage+status``.
SEPARATOR = "+"
#: Keys of a mapping object the editor writes; every other key of the starting
#: mapping (values, value_default, options, source, …) is kept as it is.
EDITED_KEYS = ("name", "label", "kind", "columns", "constants", "date_order")


class MappingEditError(Exception):
    """Editor input that cannot become a mapping; ``errors``: editor field → message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def editor_targets(kind: str) -> list[tuple[str, str]]:
    """The fields a column can be sent to: the kind's fields, then (for touches) the count
    columns that give a touch of a kind per cell (LinkedIn impressions)."""
    spec = IMPORT_KINDS[kind]
    targets = [(f, f) for f in spec.fields]
    if "quantity" in spec.fields:
        targets += [(f"{COUNT_PREFIX}{k}", f"count of {k} touches") for k in TouchKind.values]
    return targets


def editor_initial(kind: str, header: list[str], mapping: str | dict) -> dict[str, Any]:
    """What the editor shows for ``mapping``: per column index its field(s), the constants
    and the date order. ``CsvFileError`` when the mapping is unusable."""
    resolved: Mapping = mapping_resolve(kind, mapping)
    columns = {
        i: SEPARATOR.join(resolved.columns.get(normalize_key(column), []))
        for i, column in enumerate(header)
        if column
    }
    return {
        "columns": columns,
        "constants": dict(resolved.constants),
        "date_order": resolved.date_order,
    }


def editor_mapping(
    kind: str,
    header: list[str],
    base: dict[str, Any],
    columns: dict[int, str],
    constants: list[tuple[str, str]],
    date_order: str,
    name: str = "edited",
) -> dict[str, Any]:
    """The mapping object the editor's choices make, on top of ``base`` (the mapping it
    started from). Raises :class:`MappingEditError` naming each bad field: a column sent
    to an unknown field, a constant for an unknown field or without a value, an unknown
    date order, a required field nothing feeds."""
    spec = IMPORT_KINDS[kind]
    known = {value for value, _ in editor_targets(kind)}
    errors: dict[str, str] = {}
    mapped: dict[str, Any] = {}
    for index, choice in columns.items():
        parts = [p.strip() for p in choice.split(SEPARATOR) if p.strip()]
        unknown = [p for p in parts if p not in known]
        if unknown:
            errors[f"col_{index}"] = (
                f"Column '{header[index]}': '{unknown[0][:50]}' is not a field of "
                f"{spec.label.lower()}; choose one from the list."
            )
        elif parts:
            mapped[header[index]] = parts[0] if len(parts) == 1 else parts
    given: dict[str, str] = {}
    for row, (field, value) in enumerate(constants):
        field, value = field.strip(), value.strip()
        if not field and not value:
            continue
        if field not in spec.fields:
            errors[f"const_field_{row}"] = (
                f"Constant '{field[:50]}' is not a field of {spec.label.lower()}."
                if field
                else f"Choose the field the constant '{value[:50]}' is for."
            )
        elif not value:
            errors[f"const_value_{row}"] = f"Give the value of the constant {field}."
        else:
            given[field] = value
    if date_order and date_order not in DATE_ORDERS:
        errors["date_order"] = (
            f"Unknown date order '{date_order[:20]}'; use one of {', '.join(DATE_ORDERS)}."
        )
    if errors:
        raise MappingEditError(errors)
    data = {k: v for k, v in base.items() if k not in EDITED_KEYS}
    data.update(name=name, kind=kind, columns=mapped, constants=given)
    if date_order:
        data["date_order"] = date_order
    missing = _missing(kind, header, data) if mapped else list(spec.required)
    if missing:
        raise MappingEditError(
            {
                "__all__": " ".join(
                    f"Nothing feeds {' / '.join(group)} (required"
                    f"{'' if len(group) == 1 else ': one of them'}): choose it for a column "
                    "or give it as a constant."
                    for group in missing
                )
            }
        )
    return data


def _missing(kind: str, header: list[str], data: dict[str, Any]) -> list[tuple[str, ...]]:
    spec = IMPORT_KINDS[kind]
    try:
        mapping = Mapping.from_dict(data, name=data["name"])
    except CsvFileError as exc:
        raise MappingEditError({"__all__": str(exc)}) from exc
    return missing_required(spec, mapping.bind(header, spec.fields), mapping)


def saved_mapping_create(
    *, name: str, kind: str, label: str, data: dict[str, Any], user: Any = None
) -> SavedMapping:
    """Store the editor's mapping under ``name``; ``MappingEditError`` on ``profile_name``
    when the name is taken (by a shipped or a saved mapping) or the mapping is unusable."""
    name = name.strip()
    if not name:
        raise MappingEditError({"profile_name": "Name the profile to save it."})
    if name in MAPPINGS or name in ("default", AUTO):
        raise MappingEditError(
            {"profile_name": f"'{name}' is the name of a shipped mapping; choose another name."}
        )
    data = {**data, "name": name, "kind": kind, "label": label}
    try:
        mapping_resolve(kind, data)
    except CsvFileError as exc:
        raise MappingEditError({"profile_name": str(exc)}) from exc
    taken = MappingEditError(
        {"profile_name": f"A mapping named '{name}' already exists; choose another name."}
    )
    if SavedMapping.objects.filter(name=name).exists():
        raise taken
    try:
        with transaction.atomic():
            return SavedMapping.objects.create(
                name=name, kind=kind, label=label, data=data, created_by=user
            )
    except IntegrityError:
        raise taken from None
