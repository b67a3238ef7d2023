"""Enumerations of the funnel."""

from django.db import models


class Stage(models.TextChoices):
    """An account's ABM funnel stage, in funnel order."""

    NONE = "none", "Not in the funnel"
    TARGET = "target", "Target"
    ENGAGED = "engaged", "Engaged"
    OPPORTUNITY = "opportunity", "Opportunity"
    CUSTOMER = "customer", "Customer"
    RETAINED = "retained", "Retained"
    EXPANDED = "expanded", "Expanded"


class OpportunityType(models.TextChoices):
    NEW_BUSINESS = "new_business", "New business"
    RENEWAL = "renewal", "Renewal"
    EXPANSION = "expansion", "Expansion"


class OpportunityStatus(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class Cohort(models.TextChoices):
    ABM = "abm", "ABM (target list)"
    NON_ABM = "non_abm", "Non-ABM"
    ALL = "all", "All accounts"


#: One set of stage names everywhere (KPIS.md's ladder: target < engaged < opportunity <
#: customer < retained < expanded): the funnel, velocity, filters, account pages, tables,
#: CSVs and the API's labels all read them here.
STAGE_NAMES: dict[str, str] = {str(value): str(label) for value, label in Stage.choices}


def stage_name(value: object) -> str:
    """The display name of a stage code (``"customer"`` -> ``"Customer"``); a stage move
    key (``"target_to_engaged"``) reads ``"Target → Engaged"``; blank for none."""
    if value in (None, ""):
        return ""
    text = str(value)
    if text in STAGE_NAMES:
        return STAGE_NAMES[text]
    first, sep, second = text.partition("_to_")
    if sep and first in STAGE_NAMES and second in STAGE_NAMES:
        return f"{STAGE_NAMES[first]} → {STAGE_NAMES[second]}"
    return text.replace("_", " ").capitalize()
