"""The KPI engine: one function per KPI of KPIS.md, computed set-based.

Public names: ``Period``, ``Filters``, ``KpiSpec``, ``REGISTRY``, ``compute``,
``drilldown``, ``UnknownKpi``, ``NoDrilldown``.
"""

from .base import REGISTRY, Filters, KpiSpec, NoDrilldown, Period, UnknownKpi
from .engine import compute, drilldown
from .version import compact as data_version_compact
from .version import data_version
from .version import log_length as data_version_log_length

__all__ = [
    "REGISTRY",
    "Filters",
    "KpiSpec",
    "NoDrilldown",
    "Period",
    "UnknownKpi",
    "compute",
    "data_version",
    "data_version_compact",
    "data_version_log_length",
    "drilldown",
]
