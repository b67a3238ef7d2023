"""The KPI catalogue's types: Period, Filters, KpiSpec, the registry and its errors."""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from funnel.choices import Cohort

UNITS = ("count", "ratio", "money", "days", "score", "map")
KINDS = ("activity", "outcome")
RS = ("reputation", "relationship", "revenue")
DRILLDOWNS = ("account", "opportunity", None)
COHORTS: tuple[str, ...] = tuple(str(c) for c in Cohort.values)


class UnknownKpi(KeyError):
    """A KPI id that is not in the catalogue (KPIS.md)."""

    def __init__(self, kpi_id: str):
        super().__init__(kpi_id)
        self.kpi_id = kpi_id

    def __str__(self) -> str:
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

    def previous(self) -> "Period":
        """The period of equal length that ends the day before this one starts."""
        end = self.start - dt.timedelta(days=1)
        return Period(end - dt.timedelta(days=self.days - 1), end)


@dataclass(frozen=True)
class Filters:
    """Restrict the accounts a KPI considers; ``cohort=None`` means each KPI's default."""

    tier: tuple[int, ...] = ()
    program: tuple[int, ...] = ()
    owner: tuple[int, ...] = ()
    cohort: str | None = None

    def __post_init__(self) -> None:
        for name in ("tier", "program", "owner"):
            values = getattr(self, name)
            try:
                normalized = tuple(sorted({int(v) for v in values}))
            except (TypeError, ValueError):
                raise ValueError(f"Filter {name!r} must be a list of integer ids.") from None
            object.__setattr__(self, name, normalized)
        if self.cohort is not None and self.cohort not in COHORTS:
            raise ValueError(
                f"Filter 'cohort' must be one of {', '.join(COHORTS)} (got {self.cohort!r})."
            )


@dataclass(frozen=True)
class KpiSpec:
    """One KPI of the catalogue: its metadata and the function that computes it.

    ``sources`` names the aggregate queries the KPI reads (see ``sources.py``);
    ``fixed_cohort`` is set for KPIs whose definition fixes the cohort (CAC
    counts new customers of all cohorts); ``also_cohorts`` are cohorts the KPI reads
    besides its own (the cohort comparison). ``compute(ctx, cohort)`` returns the
    value fields of the result; ``drill(ctx, cohort)`` the rows behind a count.
    """

    id: str
    stage: int
    label: str
    unit: str
    kind: str
    r: str
    definition: str
    drilldown: str | None = None
    sources: tuple[str, ...] = ()
    fixed_cohort: str | None = None
    also_cohorts: tuple[str, ...] = ()
    compute: Callable[..., dict[str, Any]] = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    drill: Callable[..., Any] | None = field(default=None, repr=False, compare=False)

    def cohort_for(self, requested: str | None) -> str:
        """The cohort this KPI uses for a requested cohort (None = KPIS.md default)."""
        if self.fixed_cohort:
            return str(self.fixed_cohort)
        if requested:
            return requested
        return str(Cohort.ALL if self.stage in (5, 6) else Cohort.ABM)


#: id -> spec, in catalogue (KPIS.md) order; filled by the stage modules on import.
REGISTRY: dict[str, KpiSpec] = {}


def kpi(
    id: str,  # noqa: A002 - the catalogue's word
    *,
    stage: int,
    label: str,
    unit: str,
    kind: str,
    r: str,
    definition: str,
    sources: tuple[str, ...],
    drilldown: str | None = None,
    drill: Callable[..., Any] | None = None,
    fixed_cohort: str | None = None,
    also_cohorts: tuple[str, ...] = (),
) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    """Register the decorated function as the one implementation of KPI ``id``."""
    if id in REGISTRY:
        raise ValueError(f"KPI {id!r} is registered twice.")
    if unit not in UNITS or kind not in KINDS or r not in RS or drilldown not in DRILLDOWNS:
        raise ValueError(f"KPI {id!r} has invalid metadata.")
    if (drilldown is None) != (drill is None):
        raise ValueError(f"KPI {id!r}: drilldown and drill go together.")

    def register(function: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        REGISTRY[id] = KpiSpec(
            id=id,
            stage=stage,
            label=label,
            unit=unit,
            kind=kind,
            r=r,
            definition=definition,
            drilldown=drilldown,
            sources=sources,
            fixed_cohort=fixed_cohort,
            also_cohorts=also_cohorts,
            compute=function,
            drill=drill,
        )
        return function

    return register
