"""The KPI engine: one function per KPI of KPIS.md, computed set-based.

The funnel app's public KPI facade: the engine (``compute``, ``drilldown``), its
types and catalogue, and the rules around it that every surface shares (periods
and presets, filter checks, scope and snapshot slices, the data version).
"""

from funnel.definitions import (
    WEIGHT_MAPS,
    DefinitionsInvalid,
    UnknownDefinitions,
    definitions_params_errors,
    definitions_resolve,
    definitions_versions,
)

from .arithmetic import wilson_interval
from .attribution import MODEL_LABELS as ATTRIBUTION_MODEL_LABELS
from .attribution import MODELS as ATTRIBUTION_MODELS
from .attribution import (
    Attribution,
    AttributionUnavailable,
    OpportunityCredit,
    ProgramCredit,
    UnknownModel,
    account_attribution,
    opportunity_attribution,
    program_attribution,
    program_opportunity_credits,
)
from .attribution import available as attribution_available
from .base import (
    DENOMINATOR,
    NUMERATOR,
    REGISTRY,
    STAGE_TITLES,
    Filters,
    KpiSpec,
    NoDrilldown,
    Period,
    UnknownKpi,
    catalogue,
    drilldowns_within,
    spec_for,
)
from .engine import (
    cached_by_data_version,
    compute,
    compute_draft,
    definitions_echo,
    drilldown,
    filters_echo,
)
from .formatting import (
    format_basis,
    format_count,
    format_days,
    format_map,
    format_money,
    format_ratio,
    format_score,
    format_value,
)
from .grouped import GROUP_BY, compute_grouped
from .lift import (
    LIFT_GENERATION,
    LIFT_IDS,
    LIFT_KPIS,
    MIN_GROUP_ACCOUNTS,
    NoHoldout,
    holdout_lift,
    holdout_of_list,
    slice_kpi_ids,
)
from .query import (
    DEFAULT_DAYS,
    DEFAULT_PRESET,
    MAX_PERIOD_DAYS,
    PRESETS,
    PeriodError,
    default_period,
    filter_choices,
    last_complete_day,
    period_between,
    preset_period,
    unknown_filter_ids,
    unknown_ids,
)
from .results import sample_basis
from .scope import funnel_slices, scope_q, slice_name, slices_of_accounts
from .version import compact as data_version_compact
from .version import data_version
from .version import log_length as data_version_log_length
from .weights import (  # last: the weights preview computes through the engine above
    SCORE_KPIS,
    AccountChanges,
    KpiMove,
    WeightsPreview,
    weights_changed,
    weights_preview,
    weights_save,
)

__all__ = [
    "WEIGHT_MAPS",
    "SCORE_KPIS",
    "AccountChanges",
    "DefinitionsInvalid",
    "KpiMove",
    "WeightsPreview",
    "weights_changed",
    "weights_preview",
    "weights_save",
    "LIFT_GENERATION",
    "LIFT_IDS",
    "LIFT_KPIS",
    "MIN_GROUP_ACCOUNTS",
    "NoHoldout",
    "holdout_of_list",
    "holdout_lift",
    "slice_kpi_ids",
    "ATTRIBUTION_MODELS",
    "ATTRIBUTION_MODEL_LABELS",
    "Attribution",
    "AttributionUnavailable",
    "OpportunityCredit",
    "ProgramCredit",
    "UnknownModel",
    "opportunity_attribution",
    "DEFAULT_DAYS",
    "DEFAULT_PRESET",
    "MAX_PERIOD_DAYS",
    "PRESETS",
    "REGISTRY",
    "STAGE_TITLES",
    "Filters",
    "KpiSpec",
    "DENOMINATOR",
    "NUMERATOR",
    "NoDrilldown",
    "Period",
    "PeriodError",
    "UnknownDefinitions",
    "UnknownKpi",
    "account_attribution",
    "attribution_available",
    "program_opportunity_credits",
    "catalogue",
    "cached_by_data_version",
    "compute",
    "compute_draft",
    "compute_grouped",
    "GROUP_BY",
    "drilldowns_within",
    "sample_basis",
    "wilson_interval",
    "data_version",
    "data_version_compact",
    "data_version_log_length",
    "definitions_echo",
    "definitions_params_errors",
    "definitions_resolve",
    "definitions_versions",
    "default_period",
    "drilldown",
    "filter_choices",
    "filters_echo",
    "format_basis",
    "format_count",
    "format_days",
    "format_map",
    "format_money",
    "format_ratio",
    "format_score",
    "format_value",
    "funnel_slices",
    "last_complete_day",
    "period_between",
    "preset_period",
    "program_attribution",
    "scope_q",
    "slice_name",
    "slices_of_accounts",
    "spec_for",
    "unknown_filter_ids",
    "unknown_ids",
]
