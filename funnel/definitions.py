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

from engagement.choices import ENGAGEMENT_KINDS, TouchKind

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


class DefinitionsInvalid(ValueError):
    """Parameters that cannot be used; ``errors`` maps each parameter (``engagement_weights.
    ad_click`` for one weight) to what is wrong with it and how to fix it."""

    def __init__(self, errors: Mapping[str, str]):
        super().__init__(" ".join(errors.values()))
        self.errors = dict(errors)


#: The score parameters an admin edits (the weights page and the admin), by kind of value:
#: weights per touch kind, whole numbers of days or weeks, positive numbers, and numbers
#: that may be 0. Every other parameter keeps its version's value.
WEIGHT_MAPS: dict[str, tuple[str, ...]] = {
    "engagement_weights": ENGAGEMENT_KINDS,
    "relationship_weights": tuple(TouchKind.values),
}
WHOLE_DAYS = (
    "engagement_window_days",
    "relationship_window_days",
    "relationship_change_days",
    "research_recent_days",
    "research_baseline_weeks",
    "intent_baseline_weeks",
)
POSITIVE = ("relationship_half_life_days", "relationship_full_scale", "intent_surge_factor")
NOT_NEGATIVE = ("engagement_default_weight", "relationship_change_points")
#: The research grade is 0 to 3: one point per threshold reached.
RESEARCH_THRESHOLDS = 3


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and value == value


def score_params_errors(params: Mapping[str, Any]) -> dict[str, str]:
    """What is wrong with a version's score weights, windows and thresholds: parameter (or
    ``map.kind`` for one weight) -> a message naming it and saying what it must be."""
    errors: dict[str, str] = {}
    for name, kinds in WEIGHT_MAPS.items():
        weights = params.get(name)
        if not isinstance(weights, Mapping):
            errors[name] = f"{name} must be an object of touch kind -> weight (got {weights!r})."
            continue
        for kind, weight in weights.items():
            key = f"{name}.{kind}"
            if kind not in kinds:
                what = "an engagement kind" if name == "engagement_weights" else "a touch kind"
                errors[key] = f"{key}: {kind!r} is not {what}; use one of {', '.join(kinds)}."
            elif not _is_number(weight):
                errors[key] = f"{key} must be a number (got {weight!r})."
            elif weight < 0:
                errors[key] = f"{key} must be 0 or more (got {weight!r})."
    for name in WHOLE_DAYS:
        value = params.get(name)
        if not _is_number(value) or value != int(value) or value < 1:
            errors[name] = f"{name} must be a whole number of 1 or more (got {value!r})."
    for name in POSITIVE:
        value = params.get(name)
        if not _is_number(value) or value <= 0:
            errors[name] = f"{name} must be a number above 0 (got {value!r})."
    for name in NOT_NEGATIVE:
        value = params.get(name)
        if not _is_number(value) or value < 0:
            errors[name] = f"{name} must be a number of 0 or more (got {value!r})."
    name = "research_ratio_thresholds"
    value = params.get(name)
    if (
        not isinstance(value, list | tuple)
        or len(value) != RESEARCH_THRESHOLDS
        or not all(_is_number(t) and t > 0 for t in value)
        or list(value) != sorted(value)
    ):
        errors[name] = (
            f"{name} must be {RESEARCH_THRESHOLDS} numbers above 0 in increasing order, "
            f"one per research grade (got {value!r})."
        )
    return errors


def definitions_params_errors(params: Mapping[str, Any]) -> dict[str, str]:
    """Every check of a version's parameters (scores and attribution), keyed by parameter."""
    errors = score_params_errors(params)
    for message in attribution_params_errors(params):
        errors.setdefault(message.split(" ", 1)[0], message)
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
    errors = definitions_params_errors(merged)
    if errors:
        raise DefinitionsInvalid(errors)
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
