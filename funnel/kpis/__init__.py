"""The KPI engine: one function per KPI of KPIS.md, computed set-based.

Public names: ``Period``, ``Filters``, ``KpiSpec``, ``REGISTRY``, ``compute``,
``drilldown``, ``UnknownKpi``, ``NoDrilldown``.
"""

from .base import REGISTRY, Filters, KpiSpec, NoDrilldown, Period, UnknownKpi
from .engine import compute, drilldown

__all__ = [
    "REGISTRY",
    "Filters",
    "KpiSpec",
    "NoDrilldown",
    "Period",
    "UnknownKpi",
    "compute",
    "drilldown",
]
