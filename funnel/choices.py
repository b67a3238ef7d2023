"""Enumerations of the funnel."""

from django.db import models


class Stage(models.TextChoices):
    """An account's ABM funnel stage, in funnel order."""

    NONE = "none", "None"
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
