"""Enumerations other apps may use."""

from django.db import models


class ProgramType(models.TextChoices):
    ONE_TO_ONE = "one_to_one", "One-to-one"
    ONE_TO_FEW = "one_to_few", "One-to-few"
    ONE_TO_MANY = "one_to_many", "One-to-many"


class BuyingRole(models.TextChoices):
    DECISION_MAKER = "decision_maker", "Decision maker"
    CHAMPION = "champion", "Champion"
    INFLUENCER = "influencer", "Influencer"
    BLOCKER = "blocker", "Blocker"
    USER = "user", "User"
    OTHER = "other", "Other"


class FitGrade(models.TextChoices):
    A = "A", "A"
    B = "B", "B"
    C = "C", "C"
    D = "D", "D"


class IcpAttribute(models.TextChoices):
    INDUSTRY = "industry", "Industry"
    COUNTRY = "country", "Country"
    EMPLOYEES = "employees", "Employees"
    ANNUAL_REVENUE = "annual_revenue", "Annual revenue"


class ListKind(models.TextChoices):
    STATIC = "static", "Static (members added and removed)"
    DYNAMIC = "dynamic", "Dynamic (a saved filter)"
