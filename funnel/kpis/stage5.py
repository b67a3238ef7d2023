"""Stage 5: customer retention."""

from typing import Any

from .base import count_kpi, kpi, ratio_parts
from .context import Context
from .results import mean_result, ratio_result
from .sources.accounts import (
    RELATIONSHIP_MEAN,
    at_risk,
    churned,
    customer,
    customer_relationship_sum,
)
from .sources.opportunities import (
    renewals_due,
    renewals_pending,
    renewals_settled,
    renewed_contracts,
)

count_kpi(
    "customers",
    customer,
    stage=5,
    label="Customers",
    kind="outcome",
    r="revenue",
    definition="Accounts whose first won new-business opportunity closed by the end of the "
    "period and that had not churned by then.",
)
count_kpi(
    "renewals_due",
    renewals_due,
    stage=5,
    label="Renewals due",
    kind="activity",
    r="revenue",
    definition="Contracts (won opportunities of any type with a contract end date) ending in "
    "the period.",
)


@kpi(
    "renewal_rate",
    stage=5,
    label="Renewal rate",
    unit="ratio",
    kind="outcome",
    r="revenue",
    definition="Of the renewals due in the period, the share renewed: the account has another "
    "won renewal opportunity closed after the contract was won and no later than "
    "{renewal_grace_days} days after its end date.",
    measures=(renewed_contracts, renewals_due),
    drill_parts=ratio_parts(renewed_contracts, renewals_due),
)
def renewal_rate(ctx: Context, cohort: str) -> dict[str, Any]:
    return ratio_result(ctx.value(renewed_contracts, cohort), ctx.value(renewals_due, cohort))


count_kpi(
    "churned_accounts",
    churned,
    stage=5,
    label="Churned accounts",
    kind="outcome",
    r="revenue",
    definition="Accounts whose churn date falls in the period.",
)
count_kpi(
    "at_risk_customers",
    at_risk,
    stage=5,
    label="At-risk customers",
    kind="outcome",
    r="relationship",
    definition="Customers at the end of the period with a competitor-topic intent surge in "
    "the period, or a relationship score at least {relationship_change_points} points below "
    "its value {relationship_change_days} days earlier.",
)


@kpi(
    "customer_relationship_score_avg",
    stage=5,
    label="Customer relationship score",
    unit="score",
    kind="outcome",
    r="relationship",
    definition="Mean relationship score (0-100) of customers at the end of the period.",
    measures=(customer_relationship_sum, customer),
    drill=customer,
    figure=RELATIONSHIP_MEAN,
)
def customer_relationship_score_avg(ctx: Context, cohort: str) -> dict[str, Any]:
    return mean_result(ctx.value(customer_relationship_sum, cohort), ctx.value(customer, cohort))


# --- definitions version 2 ------------------------------------------------------------------


@kpi(
    "renewal_rate",
    stage=5,
    label="Renewal rate",
    unit="ratio",
    kind="outcome",
    r="revenue",
    definition="Of the renewals due in the period whose {renewal_grace_days}-day grace window "
    "has closed by the day of the computation, or that are already renewed, the share "
    "renewed (a won renewal of the account closed after the contract was won and no later "
    "than {renewal_grace_days} days after its end). Contracts still inside their grace "
    "window are reported as pending and left out.",
    measures=(renewed_contracts, renewals_settled, renewals_pending),
    drill_parts=ratio_parts(renewed_contracts, renewals_settled),
    generation=2,
)
def renewal_rate_v2(ctx: Context, cohort: str) -> dict[str, Any]:
    result = ratio_result(ctx.value(renewed_contracts, cohort), ctx.value(renewals_settled, cohort))
    result["pending"] = ctx.value(renewals_pending, cohort) or 0
    return result
