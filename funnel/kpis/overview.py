"""Funnel, stage velocity and the ABM / non-ABM comparison."""

from typing import Any

from funnel.choices import Cohort, Stage

# The compared KPIs must be registered before the comparison names their measures.
from . import stage4, stage5, stage6  # noqa: F401
from .arithmetic import mean, ratio, round_2, round_ratio
from .base import REGISTRY, kpi
from .context import Context
from .measures import Measure
from .sources.accounts import accounts, engaged, expansion, opportunity, renewed, won
from .sources.spend import days_in_stage

#: Funnel stage -> the condition counting its accounts: the six stage counts.
FUNNEL_STAGES: dict[str, Measure] = {
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
    "stage_velocity_days",
    stage=0,
    label="Stage velocity (days)",
    unit="map",
    kind="outcome",
    r="revenue",
    definition="Mean days accounts spent in a stage, from recorded stage changes in the "
    "period: the days between a change out of the stage and the account's previous change "
    "(into it); changes with no earlier change are left out.",
    measures=(days_in_stage,),
)
def stage_velocity_days(ctx: Context, cohort: str) -> dict[str, Any]:
    stages = ctx.value(days_in_stage, cohort)
    ordered = [s for s in Stage.values if s in stages]
    return {
        "value": {s: round_2(mean(*stages[s])) for s in ordered},
        "count": sum(stages[s][1] for s in ordered),
    }


@kpi(
    "cohort_comparison",
    stage=0,
    label="ABM vs non-ABM",
    unit="map",
    kind="outcome",
    r="revenue",
    definition="Average deal value, sales cycle, opportunity win rate, renewal rate, expansion "
    "rate and NPS for ABM (target list) and non-ABM accounts side by side; the cohort filter "
    "does not apply.",
    measures=tuple(dict.fromkeys(m for metric in COMPARED for m in REGISTRY[metric].measures)),
    fixed_cohort=Cohort.ALL,
    also_cohorts=(Cohort.ABM, Cohort.NON_ABM),
)
def cohort_comparison(ctx: Context, cohort: str) -> dict[str, Any]:
    value = {
        metric: {
            str(c): REGISTRY[metric].compute(ctx, str(c))["value"]
            for c in (Cohort.ABM, Cohort.NON_ABM)
        }
        for metric in COMPARED
    }
    return {"value": value, "count": len(value)}
