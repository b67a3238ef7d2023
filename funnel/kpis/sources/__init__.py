"""The sources of the KPI catalogue; the measures and conditions live in their modules.

A KPI imports the measures and conditions it reads from ``sources.accounts``,
``sources.touches``, ``sources.opportunities`` or ``sources.spend``; each is
a function whose docstring and body are its exact rule.
"""

from .accounts import ACCOUNTS, TIERS, account_facts
from .opportunities import NPS, OPPORTUNITIES
from .spend import SPEND, STAGE_CHANGES
from .stages import FLOW, STAGES
from .touches import TOUCHES, VIEW_THROUGH, VISITORS, period_touches, view_through_candidates

#: Every source, by name.
SOURCES = {
    s.name: s
    for s in (
        ACCOUNTS,
        TIERS,
        TOUCHES,
        VIEW_THROUGH,
        VISITORS,
        OPPORTUNITIES,
        NPS,
        SPEND,
        STAGE_CHANGES,
        STAGES,
        FLOW,
    )
}

__all__ = [
    "SOURCES",
    "account_facts",
    "period_touches",
    "view_through_candidates",
]
