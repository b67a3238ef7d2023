"""The KPI catalogue's types: Period, Filters, KpiSpec, the registry and its errors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from funnel.choices import Cohort
from funnel.definitions import ATTRIBUTION_MODEL_LABELS, shipped_params

if TYPE_CHECKING:
    from .measures import Condition, Measure

UNITS = ("count", "ratio", "money", "days", "score", "map")
KINDS = ("activity", "outcome")
RS = ("reputation", "relationship", "revenue")
COHORTS: tuple[str, ...] = tuple(str(c) for c in Cohort.values)


class UnknownKpi(KeyError):
    """A KPI id that is not in the catalogue (KPIS.md), or not in a definitions generation."""

    def __init__(self, kpi_id: str, generation: int | None = None):
        super().__init__(kpi_id)
        self.kpi_id = kpi_id
        self.generation = generation

    def __str__(self) -> str:
        if self.generation is not None:
            return (
                f"KPI {self.kpi_id!r} is not defined in definitions generation "
                f"{self.generation}; it was added in a later one."
            )
        return f"Unknown KPI id {self.kpi_id!r}."


class NoDrilldown(ValueError):
    """The KPI is not a count of accounts or opportunities, so it has no rows to list."""

    def __init__(self, kpi_id: str):
        super().__init__(f"KPI {kpi_id!r} has no drill-down.")
        self.kpi_id = kpi_id


@dataclass(frozen=True)
class Period:
    """A closed date range, both ends inclusive, in the deployment's time zone."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
                raise TypeError(f"Period.{name} must be a date, not {type(value).__name__}.")
        if self.start > self.end:
            raise ValueError(f"Period start {self.start} is after its end {self.end}.")

    @property
    def days(self) -> int:
        """Length in days, both ends counted."""
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of equal length that ends the day before this one starts."""
        end = self.start - dt.timedelta(days=1)
        return Period(end - dt.timedelta(days=self.days - 1), end)


@dataclass(frozen=True)
class Filters:
    """Restrict the accounts a KPI considers; ``cohort=None`` means each KPI's default.

    ``list_id`` names an account list whose members, as of the period end, stand
    in for the target list: the ABM cohort is the list's members, non-ABM the
    rest (the default target list gives the default cohorts' values).
    """

    tier: tuple[int, ...] = ()
    program: tuple[int, ...] = ()
    owner: tuple[int, ...] = ()
    cohort: str | None = None
    list_id: int | None = None

    def __post_init__(self) -> None:
        for name in ("tier", "program", "owner"):
            values = getattr(self, name)
            try:
                normalized = tuple(sorted({int(v) for v in values}))
            except (TypeError, ValueError):
                raise ValueError(f"Filter {name!r} must be a list of integer ids.") from None
            object.__setattr__(self, name, normalized)
        if self.list_id is not None:
            try:
                object.__setattr__(self, "list_id", int(self.list_id))
            except (TypeError, ValueError):
                raise ValueError("Filter 'list' must be an integer list id.") from None
        if self.cohort is not None and self.cohort not in COHORTS:
            raise ValueError(
                f"Filter 'cohort' must be one of {', '.join(COHORTS)} (got {self.cohort!r})."
            )


#: The catalogue's stages (KPIS.md), by number; 0 holds the funnel and velocity views.
STAGE_TITLES: dict[int, str] = {
    1: "Target accounts",
    2: "Engaged target accounts",
    3: "Target account opportunities",
    4: "New deals won",
    5: "Customer retention",
    6: "Customer expansion",
    0: "Funnel and velocity",
}


def definition_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters a definition text may name, formatted for prose.

    Whole numbers print without decimals (2.0 -> "2"); the research grade
    thresholds also as ``research_thresholds`` ("1.5x, 2.5x and 4x").
    """

    def plain(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    shown = {key: plain(value) for key, value in params.items()}
    thresholds = [f"{plain(float(t))}x" for t in sorted(params["research_ratio_thresholds"])]
    shown["research_thresholds"] = ", ".join(thresholds[:-1]) + f" and {thresholds[-1]}"
    model = params.get("attribution_model")
    shown["attribution_model"] = ATTRIBUTION_MODEL_LABELS.get(model, model)
    return shown


#: How a drill-down's listed rows make the KPI from their figures.
COMBINE = ("sum", "mean", "median")


@dataclass(frozen=True)
class Figure:
    """What each row of a KPI's drill-down contributes to the KPI: the column shown beside
    each listed row (an amount, days, touches, a score) and how the rows make the number
    (their ``sum``, ``mean`` or ``median``), so a list can be checked against its KPI.

    ``expression(ctx)`` is an expression over the drill-down's rows (opportunities, or the
    account facts of the accounts source; a touch source's per-account subquery).
    """

    label: str
    unit: str
    expression: Callable[[Any], Any] = field(compare=False)
    combine: str = "sum"

    def __post_init__(self) -> None:
        if self.combine not in COMBINE or self.unit not in UNITS:
            raise ValueError(f"Figure {self.label!r}: bad unit or combine.")

    def of(self, values: Iterable[Any]) -> float | None:
        """The number the listed rows' figures make, as the KPI makes it: a row without
        one counts as 0 in a sum or a mean (the KPI divides by every row), and is left out
        of a median; None for no rows."""
        values = list(values)
        if self.combine == "sum":
            return round(sum(float(v or 0) for v in values), 2)
        if self.combine == "mean":
            return round(sum(float(v or 0) for v in values) / len(values), 2) if values else None
        numbers = sorted(float(v) for v in values if v is not None)
        if not numbers:
            return None
        middle = len(numbers) // 2
        if len(numbers) % 2:
            return round(numbers[middle], 2)
        return round((numbers[middle - 1] + numbers[middle]) / 2, 2)


@dataclass(frozen=True)
class KpiSpec:
    """One KPI of the catalogue: its metadata, the measures it reads and its function.

    ``measures`` are the measures and conditions (``sources/``) the function
    reads; the engine computes exactly those. ``drill`` is the condition whose
    rows are behind the number (None for KPIs without a list); ``drill_parts`` names
    the condition behind each part of a map KPI (the funnel's stage counts). ``definition``
    is a template over the definition parameters (``{influence_days}``), so
    the words always state the numbers the result was computed with.
    ``no_population`` says why a KPI has no rows of its own to list (a spend ratio, an
    estimate multiplying a mean by a count, a map of other KPIs): the catalogue's mark
    for KPIs whose drill-down answers "no list" (every other KPI drills, ``drillable``).
    ``fixed_cohort`` is set for KPIs whose definition fixes the cohort (CAC
    counts new customers of all cohorts); ``also_cohorts`` are cohorts the KPI
    reads besides its own (the cohort comparison).
    """

    id: str
    stage: int
    label: str
    unit: str
    kind: str
    r: str
    definition_template: str
    generation: int = 1
    measures: tuple[Measure, ...] = ()
    drill: Condition | None = field(default=None, compare=False)
    drill_parts: Mapping[str, Condition] = field(default_factory=dict, compare=False)
    fixed_cohort: str | None = None
    also_cohorts: tuple[str, ...] = ()
    no_population: str = ""
    figure: Figure | None = field(default=None, compare=False)
    compute: Callable[..., dict[str, Any]] = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    @property
    def sources(self) -> tuple[str, ...]:
        """Names of the sources the KPI reads, in the order of its measures."""
        return tuple(dict.fromkeys(m.source.name for m in self.measures))

    @property
    def drilldown(self) -> str | None:
        """What the drill-down lists: ``"account"``, ``"opportunity"`` or None."""
        return self.drill.source.drills_to if self.drill is not None else None

    @property
    def drillable(self) -> bool:
        """Whether the KPI lists the rows behind it (itself, or each side of a rate)."""
        return self.drill is not None or (bool(self.drill_parts) and not self.no_population)

    def drill_for(self, part: str | None = None) -> Condition | None:
        """The condition listing the rows behind the KPI, or behind one ``part`` of a map
        KPI (a funnel stage): None when there is no such list."""
        if part is None:
            return self.drill
        return self.drill_parts.get(part)

    def describe(self, params: Mapping[str, Any] | None = None) -> str:
        """The definition in words, with the parameters given (this release's by default)."""
        if params is None:
            params = shipped_params()
        return self.definition_template.format_map(definition_params(params))

    @property
    def definition(self) -> str:
        return self.describe()

    def cohort_for(self, requested: str | None) -> str:
        """The cohort this KPI uses for a requested cohort (None = KPIS.md default)."""
        if self.fixed_cohort:
            return str(self.fixed_cohort)
        if requested:
            return requested
        return str(Cohort.ALL if self.stage in (5, 6) else Cohort.ABM)


#: Why the catalogue's spend ratios have no list of their own: spend is money of programs,
#: not rows; their denominator (the accounts or deals the spend is divided by) lists.
SPEND_RATIO = "Spend is program money, not rows; the accounts it is divided by are listed."
#: Attributed amounts are credit shares of many opportunities across programs.
ATTRIBUTED = (
    "Credits are shares of opportunities' amounts; each program's credits page lists the "
    "opportunities and their credit."
)
#: Spend against attributed credits: neither side is a list of rows.
SPEND_ON_CREDITS = (
    "Spend against attribution credits: neither is a list of rows; each program's credits "
    "page lists the opportunities it is credited with."
)
#: Estimates multiplying a mean by a rate or a count, no one population behind them.
ESTIMATE = "An estimate combining a mean and a rate or count; its parts are listed."

#: The parts of a rate's drill-down: the rows its numerator and its denominator count.
NUMERATOR, DENOMINATOR = "numerator", "denominator"


def ratio_parts(numerator: Condition, denominator: Condition) -> dict[str, Condition]:
    """``drill_parts`` of a rate whose value is ``numerator``'s rows / ``denominator``'s rows,
    so both populations can be listed (the lists' counts give the rate)."""
    return {NUMERATOR: numerator, DENOMINATOR: denominator}


#: id -> spec, in catalogue (KPIS.md) order; filled by the stage modules on import. The
#: spec is the KPI's first definition; ``spec_for`` gives the one of a generation.
REGISTRY: dict[str, KpiSpec] = {}
#: (id, generation) -> the definition that generation introduced.
VARIANTS: dict[tuple[str, int], KpiSpec] = {}


def spec_for(kpi_id: str, generation: int) -> KpiSpec | None:
    """The definition of ``kpi_id`` in force in ``generation`` (None: not in that generation).

    A generation inherits every definition it does not change from the ones before.
    """
    for g in range(generation, 0, -1):
        if (kpi_id, g) in VARIANTS:
            return VARIANTS[(kpi_id, g)]
    return None


def catalogue(generation: int) -> list[KpiSpec]:
    """Every KPI of ``generation``, in catalogue order."""
    return [spec for kpi_id in REGISTRY if (spec := spec_for(kpi_id, generation))]


def drilldowns_within(spec: KpiSpec, generation: int) -> list[KpiSpec]:
    """The KPIs of ``generation`` whose drill-down condition ``spec`` reads: for a ratio or a
    sum without a list of its own, the lists its numerator and denominator count."""
    read = set(spec.measures)  # measures compare by identity
    return [
        other
        for other in catalogue(generation)
        if other.drill is not None and other.drill in read and other.id != spec.id
    ]


def kpi(
    id: str,  # noqa: A002 - the catalogue's word
    *,
    stage: int,
    label: str,
    unit: str,
    kind: str,
    r: str,
    definition: str,
    measures: tuple[Measure, ...],
    drill: Condition | None = None,
    drill_parts: Mapping[str, Condition] | None = None,
    fixed_cohort: str | None = None,
    also_cohorts: tuple[str, ...] = (),
    generation: int = 1,
    no_population: str = "",
    figure: Figure | None = None,
) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    """Register the decorated function as KPI ``id``'s definition from ``generation`` on.

    A later generation changes a KPI's formula and words, never what it is: the id,
    stage, unit and grouping tags stay those of its first definition.
    """
    if (id, generation) in VARIANTS:
        raise ValueError(f"KPI {id!r} is registered twice for generation {generation}.")
    first = REGISTRY.get(id)
    if first is not None and (first.stage, first.unit, first.kind, first.r) != (
        stage,
        unit,
        kind,
        r,
    ):
        raise ValueError(f"KPI {id!r}: a new generation cannot change its stage, unit or tags.")
    if unit not in UNITS or kind not in KINDS or r not in RS:
        raise ValueError(f"KPI {id!r} has invalid metadata.")
    if not measures:
        raise ValueError(f"KPI {id!r} names no measure.")
    if drill is not None and drill not in measures:
        raise ValueError(f"KPI {id!r}: its drill-down condition must be one of its measures.")
    if drill_parts and any(c not in measures for c in drill_parts.values()):
        raise ValueError(f"KPI {id!r}: each part's drill-down condition must be a measure.")
    if drill is None and not drill_parts and not no_population:
        raise ValueError(
            f"KPI {id!r} lists no rows: declare its drill (or a rate's numerator and "
            "denominator) or say why it has no population (no_population=...)."
        )
    if drill is not None and no_population:
        raise ValueError(f"KPI {id!r} has a drill-down and is marked without a population.")

    def register(function: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        spec = KpiSpec(
            id=id,
            stage=stage,
            label=label,
            unit=unit,
            kind=kind,
            r=r,
            definition_template=definition,
            generation=generation,
            measures=tuple(measures),
            drill=drill,
            drill_parts=dict(drill_parts or {}),
            fixed_cohort=fixed_cohort,
            also_cohorts=also_cohorts,
            no_population=no_population,
            figure=figure,
            compute=function,
        )
        VARIANTS[(id, generation)] = spec
        REGISTRY.setdefault(id, spec)
        return function

    return register


def count_kpi(
    id: str,  # noqa: A002
    condition: Condition,
    *,
    stage: int,
    label: str,
    kind: str,
    r: str,
    definition: str,
    generation: int = 1,
    figure: Figure | None = None,
) -> None:
    """Register a KPI that is the count of ``condition``'s rows, drillable to them; a
    touch count lists the accounts with each one's touches (``figure``)."""
    from .results import count_result

    @kpi(
        id,
        stage=stage,
        label=label,
        unit="count",
        kind=kind,
        r=r,
        definition=definition,
        measures=(condition,),
        drill=condition,
        generation=generation,
        figure=figure or condition.source.figure_of(condition),
    )
    def count(ctx: Any, cohort: str) -> dict[str, Any]:
        return count_result(ctx.value(condition, cohort))

    count.__name__ = count.__qualname__ = id


def restate(kpi_id: str, *, definition: str, label: str | None = None, generation: int = 2) -> None:
    """``kpi_id`` in ``generation`` with new words but the same function and measures.

    For KPIs whose change lives in a shared rule the measures apply by generation
    (touch quantities, the program filter, spend allocation): the number follows
    the rule; the definition must say so.
    """
    base = spec_for(kpi_id, generation - 1)
    if base is None:
        raise ValueError(f"KPI {kpi_id!r} has no earlier definition to restate.")
    if (kpi_id, generation) in VARIANTS:
        raise ValueError(f"KPI {kpi_id!r} is registered twice for generation {generation}.")
    VARIANTS[(kpi_id, generation)] = replace(
        base, generation=generation, definition_template=definition, label=label or base.label
    )
