"""KPI definitions versions: finding the one in force, deriving new ones, never editing used ones.

Every KPI result names the version it was computed under. A version is the
formula generation plus its parameters (``DefinitionsVersion``); once a
result was computed under it, it is never edited: a change derives a new
version, and the default moves only when an admin moves it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import DefinitionsVersion

#: The generations the engine knows, newest last.
GENERATIONS = (1, 2)
#: The multi-touch attribution models (``funnel.kpis.attribution``), in picker order.
ATTRIBUTION_MODELS = ("first", "last", "linear", "time_decay", "u_shaped", "w_shaped")
#: How pages and definitions name them.
ATTRIBUTION_MODEL_LABELS = {
    "first": "first-touch",
    "last": "last-touch",
    "linear": "linear",
    "time_decay": "time-decay",
    "u_shaped": "U-shaped (40/20/40)",
    "w_shaped": "W-shaped (30/30/30/10)",
}


class UnknownDefinitions(LookupError):
    """No definitions version has this id or name."""

    def __init__(self, ref: Any):
        known = ", ".join(DefinitionsVersion.objects.values_list("name", flat=True)) or "none"
        super().__init__(f"No definitions version {ref!r}; known versions: {known}.")
        self.ref = ref


class DefinitionsInUse(ValueError):
    """A version that results were computed under cannot change; derive a new one."""


def shipped_params() -> dict[str, Any]:
    """The parameters of this release's settings, as a new version starts with them."""
    params = {k: v for k, v in settings.ABM_SCORES.items() if k != "fit_grade_thresholds"}
    params.setdefault("gross_margin", 1.0)
    params.setdefault("high_value_patterns", None)
    return params


def attribution_params_errors(params: Mapping[str, Any]) -> list[str]:
    """What is wrong with a version's attribution parameters, each naming the parameter."""
    errors = []
    model = params.get("attribution_model")
    if model not in ATTRIBUTION_MODELS:
        errors.append(
            f"attribution_model {model!r} is not a model; use one of "
            f"{', '.join(ATTRIBUTION_MODELS)}."
        )
    for name in ("attribution_lookback_days", "attribution_half_life_days"):
        value = params.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            errors.append(f"{name} must be a positive number of days (got {value!r}).")
    return errors


def definitions_resolve(ref: DefinitionsVersion | int | str | None = None) -> DefinitionsVersion:
    """The version ``ref`` names (id, name or the object); the default one for None.

    One query. Raises ``UnknownDefinitions`` for an id or name no version has.
    """
    if isinstance(ref, DefinitionsVersion):
        return ref
    versions = DefinitionsVersion.objects.all()
    if ref is None or ref == "":
        found = versions.filter(is_default=True).first()
        if found is None:  # no default: the newest one, or the shipped ones when none exist
            found = versions.order_by("-created_at", "-pk").first() or _shipped_versions()
        return found
    text = str(ref).strip()
    found = (
        versions.filter(pk=int(text)).first()
        if text.isdigit() and len(text) < 19
        else versions.filter(name=text).first()
    )
    if found is None:
        raise UnknownDefinitions(ref)
    return found


def _shipped_versions() -> DefinitionsVersion:
    """Create the shipped versions (v1, and v2 as the default) where none exist.

    The migration seeds them; a database emptied since (a test flush, a restore of
    the data tables only) gets them back instead of failing every computation.
    """
    params = shipped_params()
    with transaction.atomic():
        v1, _ = DefinitionsVersion.objects.get_or_create(
            name="v1", defaults={"generation": 1, "params": params}
        )
        v2, created = DefinitionsVersion.objects.get_or_create(
            name="v2", defaults={"generation": 2, "params": params, "derived_from": v1}
        )
        if not DefinitionsVersion.objects.filter(is_default=True).exists():
            definitions_default_set(v2)
    return v2


def definitions_versions() -> list[DefinitionsVersion]:
    """Every definitions version, oldest first (one query; the shipped ones where none exist)."""
    versions = list(DefinitionsVersion.objects.order_by("created_at", "pk"))
    if not versions:
        _shipped_versions()
        versions = list(DefinitionsVersion.objects.order_by("created_at", "pk"))
    return versions


def definitions_mark_used(version: DefinitionsVersion) -> None:
    """Record that a result was computed under ``version``: from now on it is immutable."""
    if version.used_at is None:
        now = timezone.now()
        DefinitionsVersion.objects.filter(pk=version.pk, used_at__isnull=True).update(used_at=now)
        version.used_at = now


def definitions_derive(
    base: DefinitionsVersion,
    *,
    name: str,
    params: Mapping[str, Any] | None = None,
    generation: int | None = None,
    note: str = "",
    make_default: bool = False,
) -> DefinitionsVersion:
    """A new version from ``base`` with some parameters (or the generation) changed."""
    merged = {**base.params, **(params or {})}
    unknown = sorted(set(params or {}) - set(base.params))
    if unknown:
        raise ValueError(f"Unknown definitions parameter(s): {', '.join(unknown)}.")
    errors = attribution_params_errors(merged)
    if errors:
        raise ValueError(" ".join(errors))
    generation = generation or base.generation
    if generation not in GENERATIONS:
        raise ValueError(f"Generation {generation} is not one of {GENERATIONS}.")
    with transaction.atomic():
        version = DefinitionsVersion.objects.create(
            name=name, generation=generation, params=merged, derived_from=base, note=note
        )
        if make_default:
            definitions_default_set(version)
    return version


def definitions_default_set(version: DefinitionsVersion) -> None:
    """Make ``version`` the default, deliberately (one UPDATE each way, in one transaction)."""
    with transaction.atomic():
        DefinitionsVersion.objects.filter(is_default=True).exclude(pk=version.pk).update(
            is_default=False
        )
        DefinitionsVersion.objects.filter(pk=version.pk).update(is_default=True)
        version.is_default = True


def definitions_check_editable(version: DefinitionsVersion) -> None:
    """``DefinitionsInUse`` when results were computed under ``version``."""
    if (
        version.pk
        and DefinitionsVersion.objects.filter(pk=version.pk, used_at__isnull=False).exists()
    ):
        raise DefinitionsInUse(
            f"Results were computed under {version.name}; derive a new version instead of "
            "editing it, so those results stay reproducible."
        )
