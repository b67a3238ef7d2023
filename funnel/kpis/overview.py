"""Funnel, stage velocity and the ABM / non-ABM comparison."""

from typing import Any

from funnel.choices import Cohort, Stage
from funnel.stages import LADDER

# The compared KPIs must be registered before the comparison names their measures.
from . import stage4, stage5, stage6  # noqa: F401
from .arithmetic import mean, ratio, round_2, round_ratio
from .base import kpi, spec_for
from .context import Context
from .measures import Condition
from .results import sample_basis
from .sources.accounts import accounts, engaged, expansion, opportunity, renewed, won
from .sources.spend import days_in_stage
from .sources.stages import AT_OR_BEYOND, MOVED_ON

#: Funnel stage -> the condition counting its accounts: the six stage counts.
FUNNEL_STAGES: dict[str, Condition] = {
    Stage.TARGET: accounts,
    Stage.ENGAGED: engaged,
    Stage.OPPORTUNITY: opportunity,
    Stage.CUSTOMER: won,
    Stage.RETAINED: renewed,
    Stage.EXPANDED: expansion,
}

COMPARED = (
    "average_deal_value",
    "sales_cycle_days",
    "opportunity_win_rate",
    "renewal_rate",
    "expansion_rate",
    "net_promoter_score",
)


@kpi(
    "funnel",
    stage=0,
    label="ABM funnel",
    unit="map",
    kind="outcome",
    r="revenue",
    definition="The six stage counts of the period for one cohort (target accounts, engaged "
    "target accounts, opportunity accounts, won accounts, accounts with a won renewal closed "
    "in the period, expansion accounts) and the conversion rate from each stage to the next.",
    measures=tuple(FUNNEL_STAGES.values()),
    drill_parts=FUNNEL_STAGES,
)
def funnel(ctx: Context, cohort: str) -> dict[str, Any]:
    stages = {str(stage): ctx.value(m, cohort) or 0 for stage, m in FUNNEL_STAGES.items()}
    names = list(stages)
    conversion = {
        f"{a}_to_{b}": round_ratio(ratio(stages[b], stages[a]))
        for a, b in zip(names[:-1], names[1:], strict=True)
    }
    return {
        "value": {"stages": stages, "conversion": conversion},
        "count": stages[Stage.TARGET],
    }


@kpi(
    "funnel",
    stage=0,
    label="ABM funnel",
    unit="map",
    kind="outcome",
    r="revenue",
    definition="Accounts of the cohort by their stage at the end of the period (target < "
    "engaged < opportunity < customer < retained < expanded, the stage rules of the "
    "snapshots), counted cumulatively: each stage counts the accounts at or beyond it, so "
    "the six counts nest and every conversion (a stage's count / the one before) is between "
    "0 and 1. One cohort for all six.",
    measures=tuple(AT_OR_BEYOND.values()),
    drill_parts=AT_OR_BEYOND,
    generation=2,
)
def funnel_v2(ctx: Context, cohort: str) -> dict[str, Any]:
    stages = {stage: ctx.value(m, cohort) or 0 for stage, m in AT_OR_BEYOND.items()}
    names = list(stages)
    conversion = {
        f"{a}_to_{b}": round_ratio(ratio(stages[b], stages[a]))
        for a, b in zip(names[:-1], names[1:], strict=True)
    }
    return {
        "value": {"stages": stages, "conversion": conversion},
        "count": stages[Stage.TARGET],
    }


@kpi(
    "funnel_flow",
    stage=0,
    label="Funnel flow",
    unit="map",
    kind="outcome",
    r="revenue",
    definition="For each stage and the next: accounts of the cohort that moved from the stage "
    "to a later one during the period / accounts in the stage at some time in the period, "
    "from the recorded stage history. Each rate is between 0 and 1.",
    measures=tuple(m for pair in MOVED_ON.values() for m in pair),
    no_population="A rate per stage move; the accounts in each stage are the funnel's bars.",
    generation=2,
)
def funnel_flow(ctx: Context, cohort: str) -> dict[str, Any]:
    rates, counts = {}, {}
    stages = list(MOVED_ON)
    for i, (stage, (left, held)) in enumerate(MOVED_ON.items()):
        moved, was = ctx.value(left, cohort) or 0, ctx.value(held, cohort) or 0
        following = LADDER[i + 1] if i + 1 < len(LADDER) else None
        key = f"{stage}_to_{following}"
        rates[key] = round_ratio(ratio(moved, was))
        counts[key] = {"moved": moved, "in_stage": was}
    return {
        "value": rates,
        "count": sum(c["in_stage"] for c in counts.values()),
        "flows": counts,
        "stages": stages,
    }


@kpi(
    "stage_velocity_days",
    stage=0,
    label="Stage velocity",
    unit="map",
    kind="outcome",
    r="revenue",
    definition="Mean days accounts spent in a stage, from recorded stage changes in the "
    "period: the days between a change out of the stage and the account's previous change "
    "(into it); changes with no earlier change are left out.",
    measures=(days_in_stage,),
    no_population="Mean days between stage changes; the stage changes are not listed (each "
    "account's page shows its own).",
)
def stage_velocity_days(ctx: Context, cohort: str) -> dict[str, Any]:
    stages = ctx.value(days_in_stage, cohort)
    ordered = [s for s in Stage.values if s in stages]
    return {
        "value": {s: round_2(mean(*stages[s])) for s in ordered},
        "count": sum(stages[s][1] for s in ordered),
    }


def cohort_comparison(ctx: Context, cohort: str) -> dict[str, Any]:
    """Each compared KPI for ABM and non-ABM, and the sample behind each value (``basis``:
    n, and a rate's numerator), so nobody reads one deal as a trend."""
    results = {
        metric: {
            str(c): spec_for(metric, ctx.generation).compute(ctx, str(c))
            for c in (Cohort.ABM, Cohort.NON_ABM)
        }
        for metric in COMPARED
    }
    value = {m: {c: r["value"] for c, r in by.items()} for m, by in results.items()}
    basis = {m: {c: sample_basis(r) for c, r in by.items()} for m, by in results.items()}
    return {"value": value, "basis": basis, "count": len(value)}


def _register_comparison(generation: int) -> None:
    """The comparison of each generation reads the compared KPIs of that generation."""
    kpi(
        "cohort_comparison",
        stage=0,
        label="ABM vs non-ABM",
        unit="map",
        kind="outcome",
        r="revenue",
        definition="Average deal value, sales cycle, opportunity win rate, renewal rate, "
        "expansion rate and NPS for ABM (target list) and non-ABM accounts side by side; the "
        "cohort filter does not apply.",
        measures=tuple(
            dict.fromkeys(m for metric in COMPARED for m in spec_for(metric, generation).measures)
        ),
        no_population="A table of other KPIs by cohort; each figure drills from its own KPI.",
        fixed_cohort=Cohort.ALL,
        also_cohorts=(Cohort.ABM, Cohort.NON_ABM),
        generation=generation,
    )(cohort_comparison)


for _generation in (1, 2):
    _register_comparison(_generation)
