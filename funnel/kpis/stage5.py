"""Stage 5: customer retention."""

from typing import Any

from .base import kpi
from .drills import accounts_where, opportunities_where
from .results import count_result, mean_result, ratio_result
from .sources import Context


@kpi(
    "customers",
    stage=5,
    label="Customers",
    unit="count",
    kind="outcome",
    r="revenue",
    definition="Accounts whose first won new-business opportunity closed by the end of the "
    "period and that had not churned by then.",
    sources=("accounts",),
    drilldown="account",
    drill=accounts_where("customer"),
)
def customers(ctx: Context, cohort: str) -> dict[str, Any]:
    return count_result(ctx.get("accounts", cohort)["customer"])


@kpi(
    "renewals_due",
    stage=5,
    label="Renewals due",
    unit="count",
    kind="activity",
    r="revenue",
    definition="Contracts (won opportunities of any type with a contract end date) ending in "
    "the period.",
    sources=("opportunities",),
    drilldown="opportunity",
    drill=opportunities_where("renewals_due"),
)
def renewals_due(ctx: Context, cohort: str) -> dict[str, Any]:
    return count_result(ctx.get("opportunities", cohort)["renewals_due_n"])


@kpi(
    "renewal_rate",
    stage=5,
    label="Renewal rate",
    unit="ratio",
    kind="outcome",
    r="revenue",
    definition="Of the renewals due in the period, the share renewed: the account has another "
    "won renewal opportunity closed after the contract was won and no later than 30 days "
    "after its end date.",
    sources=("opportunities",),
)
def renewal_rate(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("opportunities", cohort)
    return ratio_result(m["renewed_n"], m["renewals_due_n"])


@kpi(
    "churned_accounts",
    stage=5,
    label="Churned accounts",
    unit="count",
    kind="outcome",
    r="revenue",
    definition="Accounts whose churn date falls in the period.",
    sources=("accounts",),
    drilldown="account",
    drill=accounts_where("churned"),
)
def churned_accounts(ctx: Context, cohort: str) -> dict[str, Any]:
    return count_result(ctx.get("accounts", cohort)["churned"])


@kpi(
    "at_risk_customers",
    stage=5,
    label="At-risk customers",
    unit="count",
    kind="outcome",
    r="relationship",
    definition="Customers at the end of the period with a competitor-topic intent surge in "
    "the period, or a relationship score at least 5 points below its value 30 days earlier.",
    sources=("accounts",),
    drilldown="account",
    drill=accounts_where("at_risk"),
)
def at_risk_customers(ctx: Context, cohort: str) -> dict[str, Any]:
    return count_result(ctx.get("accounts", cohort)["at_risk"])


@kpi(
    "customer_relationship_score_avg",
    stage=5,
    label="Customer relationship score",
    unit="score",
    kind="outcome",
    r="relationship",
    definition="Mean relationship score (0-100) of customers at the end of the period.",
    sources=("accounts",),
)
def customer_relationship_score_avg(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("accounts", cohort)
    return mean_result(m["customer_rel_sum"], m["customer"])
