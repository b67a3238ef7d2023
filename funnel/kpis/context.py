"""One ``compute()``: the period, the filters, the parameters, and the measures run so far."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Case, Q
from django.utils import timezone

from abm_site.db import day_bounds
from engagement.selectors import high_value_patterns_for
from funnel.models import DefinitionsVersion
from funnel.selectors import cohort_flag, cohort_q

from .base import Filters, Period
from .measures import Measure, Source
from .scope import scope_q
from .statements import note_read


@dataclass
class Planned:
    """What one source must compute: for which cohorts, which measures."""

    cohorts: set[str] = field(default_factory=set)
    measures: set[Measure] = field(default_factory=set)


class Context:
    """The state of one computation; KPI functions read measures through ``value``."""

    def __init__(
        self,
        period: Period,
        filters: Filters,
        plan: dict[Source, Planned] | None = None,
        definitions: DefinitionsVersion | None = None,
        *,
        shared: dict[str, Any] | None = None,
    ):
        self.period = period
        self.filters = filters
        self.plan = plan or {}
        self.start, self.end = period.start, period.end
        self.start_dt, self.end_dt = day_bounds(period.start, period.end)
        self.definitions = definitions
        #: The formula generation (1 or 2) and the parameters of the definitions in force.
        self.generation = definitions.generation if definitions is not None else 2
        self.params: Mapping[str, Any] = {
            **settings.ABM_SCORES,
            **(definitions.params if definitions is not None else {}),
        }
        #: The day the computation runs: version 2's renewal rate leaves out contracts
        #: still inside their grace window on that day.
        self.today = timezone.localdate()
        self._results: dict[Source, dict[str, dict[str, Any]]] = {}
        #: What the contexts of one grouped computation read from the database or build
        #: once (under the same definitions): the high-value page patterns, the scopes.
        self._shared: dict[str, Any] = {} if shared is None else shared
        #: The periods of the series this context is a bucket of (``series``), else empty:
        #: a condition may read all the buckets' rows in one set (``program_reached``).
        self.series: tuple[Period, ...] = ()
        #: The programs of the grouped pass this context is a group (or the union) of, else
        #: empty: its program conditions read the pass's one set of pairs (``scope_q``).
        self.programs_of: tuple[int, ...] = ()
        #: Whether those programs' (program, account) pairs are in the session, put there once
        #: for the whole computation (``scope.program_pairs``; PostgreSQL).
        self.pairs_set = False

    def scope_q(self, prefix: str = "", *, shared: bool = False) -> Q:
        """Tier, owner and program filters on accounts (through ``prefix``; ``shared``: as
        shared sets on account rows too, ``scope.scope_q``). Built once per form for all the
        contexts of a computation: a grouped pass asks each group's of every source, and
        Django builds its sets' querysets each time (a Q is only ever combined into new
        ones, never changed in place)."""
        scopes = self._shared.setdefault("scopes", {})
        key = (
            self.filters,
            self.period,
            prefix,
            shared,
            self.generation,
            self.programs_of,
            self.pairs_set,
        )
        if key not in scopes:
            scopes[key] = scope_q(
                self.filters,
                self.period,
                prefix,
                generation=self.generation,
                shared=shared,
                programs_of=self.programs_of,
                pairs_set=self.pairs_set,
            )
        return scopes[key]

    def targeted(self, prefix: str = "") -> Case:
        """The ABM-cohort flag at the period end: the target list, or the filters' list."""
        return cohort_flag(self.end, prefix, self.filters.list_id)

    def cohort_q(self, cohort: str, prefix: str = "") -> Q:
        return cohort_q(cohort, self.end, prefix, self.filters.list_id)

    @property
    def patterns(self) -> list[str]:
        """The high-value page patterns in force: the version's own, or the registered pages
        (one query, on first use, for all the contexts sharing it)."""
        note_read("patterns")  # a reused statement checks they are still the same
        if "patterns" not in self._shared:
            self._shared["patterns"] = high_value_patterns_for(self.params)
        return self._shared["patterns"]

    def value(self, measure: Measure, cohort: str) -> Any:
        """The value of ``measure`` for ``cohort``; runs its source on first use."""
        source = measure.source
        if source not in self._results:
            planned = self.plan.get(source) or Planned({cohort}, {measure})
            measures = sorted(planned.measures, key=lambda m: m.name)
            self._results[source] = source.compute(self, sorted(planned.cohorts), measures)
        try:
            return self._results[source][cohort][measure.name]
        except KeyError:
            raise LookupError(
                f"{measure!r} for cohort {cohort!r} was not planned: the KPI that reads it "
                "must name it in its measures."
            ) from None
