"""A realistic, deterministic demo data set across every source-data model (``seed_demo``).

Why it exists: the pages and KPIs only mean something on data with a story.
ABM (target) accounts get larger deals, longer cycles, higher win rates,
better retention and NPS than non-ABM accounts; engagement ramps up before
opportunities; activity grows towards the end date so the "last 90 days"
view is rich.

Determinism: everything is drawn from one local ``random.Random(seed)`` in a
fixed order (lists and dicts only, no set iteration), and dates derive from
``end_date`` alone, so the same seed and end date give the same rows. Only
``created_at``/``updated_at`` (and the users' ``date_joined``) carry the clock.

Performance: the plan is built in memory per account (a few thousand
objects); touches, the one big table, are streamed in chunks straight into
PostgreSQL with ``COPY`` (``bulk_create`` in batches on other databases).
"""

from __future__ import annotations

import bisect
import calendar
import datetime as dt
import json
import math
import random
import time
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TextIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, models, transaction
from django.utils import timezone

from accounts.choices import BuyingRole, IcpAttribute, ProgramType
from accounts.domains import normalize_domain
from accounts.models import Account, IcpRule, Stakeholder, Tier
from accounts.services import account_fit_refresh
from engagement.choices import Direction, FunnelPosition, SpendCategory
from engagement.choices import TouchKind as K
from engagement.models import HighValuePage, IntentSignal, Program, Spend, Touch, Visitor

from .choices import OpportunityStatus, OpportunityType, Stage
from .models import (
    AccountSnapshot,
    AccountStageChange,
    FunnelSnapshot,
    NpsResponse,
    Opportunity,
    RecomputeRun,
)

#: ``source`` of every seeded row, so imports from real systems never collide with it.
SOURCE = "demo"
#: E-mail domain of the seeded sales reps; ``demo_tables_wipe`` deletes only these users.
DEMO_USER_DOMAIN = "reps.demo.example"
SITE = "https://www.funnelwise.example"
CHUNK = 5000
DEFAULT_ACCOUNTS = 2000
DEFAULT_TOUCHES = 300_000
DEFAULT_SEED = 42
DEFAULT_MONTHS = 18

#: Tables the demo fills or that derive from them, children first (the wipe order).
DEMO_MODELS: tuple[type[models.Model], ...] = (
    Touch,
    Visitor,
    IntentSignal,
    Spend,
    Program,
    HighValuePage,
    NpsResponse,
    AccountStageChange,
    AccountSnapshot,
    FunnelSnapshot,
    RecomputeRun,
    Opportunity,
    Stakeholder,
    Account,
    IcpRule,
    Tier,
)


@dataclass(frozen=True)
class DemoConfig:
    """What to generate: sizes, the seed and the last day of the 18-month window."""

    end_date: dt.date
    accounts: int = DEFAULT_ACCOUNTS
    touches: int = DEFAULT_TOUCHES
    seed: int = DEFAULT_SEED
    months: int = DEFAULT_MONTHS

    def __post_init__(self) -> None:
        if self.accounts < 10:
            raise ValueError(f"accounts must be at least 10 (got {self.accounts}).")
        if self.touches < 0:
            raise ValueError(f"touches cannot be negative (got {self.touches}).")
        if not 1 <= self.months <= 120:
            raise ValueError(f"months must be between 1 and 120 (got {self.months}).")


@dataclass
class DemoResult:
    """Rows created per model (in creation order) and the seconds it took."""

    counts: dict[str, int]
    elapsed: float
    start_date: dt.date
    end_date: dt.date


def demo_default_end_date() -> dt.date:
    """Yesterday in ``settings.TIME_ZONE``: the last complete day (the only clock read)."""
    return timezone.localdate() - dt.timedelta(days=1)


def demo_existing_counts() -> dict[str, int]:
    """Rows already in the demo tables (non-empty ones only), for the refusal message."""
    counts = {m._meta.verbose_name_plural: m.objects.count() for m in DEMO_MODELS}
    return {name: n for name, n in counts.items() if n}


def demo_tables_wipe() -> dict[str, int]:
    """Delete every row of the demo tables and the demo's own users (``@reps.demo.example``).

    Other users, groups and API tokens stay. Children go first so no
    cascade has to load rows into memory.
    """
    deleted: dict[str, int] = {}
    with transaction.atomic():
        for model in DEMO_MODELS:
            n = model.objects.count()
            model.objects.all().delete()
            deleted[str(model._meta.verbose_name_plural)] = n
        users = get_user_model().objects.filter(email__iendswith="@" + DEMO_USER_DOMAIN)
        deleted["demo users"] = users.count()
        users.delete()
    return deleted


def demo_seed(
    config: DemoConfig,
    *,
    log: Callable[[str], None] | None = None,
    progress_file: TextIO | None = None,
) -> DemoResult:
    """Generate and write the whole demo data set in one transaction.

    ``log`` receives one line per step; ``progress_file`` (if given) shows a
    tqdm bar while touches stream in.
    """
    started = time.monotonic()
    builder = _Builder(config, log=log or (lambda _msg: None), progress_file=progress_file)
    with transaction.atomic():
        if connection.vendor == "sqlite":
            # Index pages of the touch table must stay in memory, or random index
            # inserts turn I/O-bound as the table grows (the default cache is 2 MB).
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA cache_size = -262144")  # 256 MB, this connection only
        builder.run()
    _refresh_planner_statistics()
    return DemoResult(
        counts=builder.counts,
        elapsed=time.monotonic() - started,
        start_date=builder.start,
        end_date=builder.end,
    )


def _refresh_planner_statistics() -> None:
    """ANALYZE the freshly loaded tables so the first queries get good plans.

    Autovacuum gets to a bulk load only later: until then PostgreSQL plans
    the KPI and snapshot queries for empty tables, and a 1-second query takes
    20. SQLite's planner likewise uses the statistics ``ANALYZE`` gathers.
    """
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


# --- Vocabulary -------------------------------------------------------------

ICP_INDUSTRIES = ["Software", "Financial Services", "Healthcare", "Manufacturing"]
OTHER_INDUSTRIES = [
    "Retail",
    "Education",
    "Government",
    "Hospitality",
    "Logistics",
    "Media",
    "Energy",
    "Telecommunications",
]
ICP_COUNTRIES = ["United States", "Canada", "United Kingdom", "Germany", "France", "Netherlands"]
OTHER_COUNTRIES = ["Brazil", "India", "Japan", "Spain", "Mexico", "Singapore", "South Africa"]
NAME_HEADS = [
    "Blue", "North", "Silver", "Iron", "Bright", "Cedar", "Clear", "Summit", "Granite", "Maple",
    "Harbor", "Pine", "Red", "Stone", "Swift", "Oak", "Golden", "River", "Star", "Falcon",
    "Lake", "Crest", "Aurora", "Vector", "Nova", "Quantum", "Atlas", "Beacon", "Orchid", "Delta",
]  # fmt: skip
NAME_ROOTS = [
    "field", "bridge", "point", "wave", "line", "gate", "works", "path", "stone", "crest",
    "view", "core", "peak", "forge", "light", "mark", "wood", "ridge", "sky", "port",
]  # fmt: skip
NAME_TAILS = [
    "Systems", "Analytics", "Bank", "Health", "Logistics", "Labs", "Software", "Industries",
    "Partners", "Group", "Capital", "Networks", "Manufacturing", "Media", "Energy",
]  # fmt: skip
FIRST_NAMES = [
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "James", "Isabella", "Lucas",
    "Mia", "Mateo", "Amelia", "Ethan", "Harper", "Aiden", "Evelyn", "Leo", "Abigail", "Omar",
    "Priya", "Wei", "Yuki", "Fatima", "Carlos", "Ingrid", "Kwame", "Sofia", "Hiroshi", "Chloe",
    "Daniel", "Grace", "Samuel", "Nora", "David", "Lena", "Marco", "Aisha", "Jonas", "Elena",
]  # fmt: skip
LAST_NAMES = [
    "Smith", "Johnson", "Garcia", "Miller", "Davis", "Martinez", "Lopez", "Wilson", "Anderson",
    "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White", "Harris",
    "Clark", "Lewis", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Nguyen", "Hill",
    "Adams", "Baker", "Nelson", "Carter", "Mitchell", "Patel", "Roberts", "Kim", "Chen", "Singh",
    "Schmidt", "Dubois", "Rossi", "Tanaka", "Okafor", "Novak", "Larsen", "Costa", "Haddad",
]  # fmt: skip
ROLE_TITLES: dict[str, list[str]] = {
    BuyingRole.DECISION_MAKER: ["Chief Marketing Officer", "VP Marketing", "Chief Revenue Officer"],
    BuyingRole.CHAMPION: ["Director of Demand Generation", "Head of Growth", "Head of ABM"],
    BuyingRole.INFLUENCER: [
        "Marketing Operations Manager",
        "Revenue Operations Manager",
        "Sales Director",
        "Director of IT",
    ],
    BuyingRole.BLOCKER: ["Procurement Manager", "IT Security Lead", "Finance Director"],
    BuyingRole.USER: ["Marketing Specialist", "SDR Team Lead", "Account Executive"],
    BuyingRole.OTHER: ["Executive Assistant", "Legal Counsel", "Data Analyst"],
}
ROLE_MIX = [
    (BuyingRole.INFLUENCER, 30),
    (BuyingRole.USER, 30),
    (BuyingRole.OTHER, 15),
    (BuyingRole.CHAMPION, 10),
    (BuyingRole.BLOCKER, 10),
    (BuyingRole.DECISION_MAKER, 5),
]
REPS = [
    ("maya", "Chen", "editor"),
    ("daniel", "Okafor", "editor"),
    ("sofia", "Rossi", "editor"),
    ("liam", "Walker", "editor"),
    ("priya", "Patel", "editor"),
    ("jonas", "Larsen", "viewer"),
    ("grace", "Kim", "viewer"),
    ("omar", "Haddad", "viewer"),
]
TIERS = [("Tier 1", 1), ("Tier 2", 2), ("Tier 3", 3)]
HIGH_VALUE_PAGES = [
    ("/pricing", "Pricing"),
    ("/demo", "Demo request"),
    ("/contact-sales", "Contact sales"),
    ("/free-trial", "Free trial"),
    ("/customers/*/case-study", "Case study"),
]
HIGH_VALUE_URLS = [
    ("/pricing", "Pricing"),
    ("/pricing?plan=enterprise", "Pricing"),
    ("/demo", "Demo request"),
    ("/demo/request", "Demo request"),
    ("/contact-sales", "Contact sales"),
    ("/free-trial", "Free trial"),
    ("/customers/harbor-bank/case-study", "Case study"),
    ("/customers/cedarpoint-health/case-study", "Case study"),
]
WEB_PAGES = [
    "/",
    "/product",
    "/product/intent-signals",
    "/product/attribution",
    "/product/account-scoring",
    "/solutions/financial-services",
    "/solutions/healthcare",
    "/solutions/manufacturing",
    "/solutions/software",
    "/integrations/salesforce",
    "/integrations/hubspot",
    "/customers",
    "/about",
    "/careers",
    "/docs/getting-started",
]
BLOG_POSTS = [
    ("/blog/seven-signs-your-abm-program-works", "Blog: Seven signs your ABM program works"),
    ("/blog/buying-committees-explained", "Blog: Buying committees explained"),
    ("/blog/intent-data-without-the-hype", "Blog: Intent data without the hype"),
    ("/blog/tiering-target-accounts", "Blog: Tiering target accounts"),
    ("/blog/from-mql-to-engaged-accounts", "Blog: From MQLs to engaged accounts"),
]
#: (asset, funnel position, engagement minutes low, high)
CONTENT = [
    ("Guide: ABM 101", FunnelPosition.TOFU, 3, 12),
    ("Report: State of B2B buying", FunnelPosition.TOFU, 4, 15),
    ("Infographic: The buying committee", FunnelPosition.TOFU, 1, 4),
    ("E-book: Building a target account list", FunnelPosition.MOFU, 6, 20),
    ("Whitepaper: Measuring pipeline influence", FunnelPosition.MOFU, 8, 25),
    ("Template: ABM budget planner", FunnelPosition.MOFU, 3, 10),
    ("Case study: Harbor Bank", FunnelPosition.BOFU, 4, 12),
    ("ROI calculator", FunnelPosition.BOFU, 5, 15),
    ("Security whitepaper", FunnelPosition.BOFU, 6, 18),
]
WEBINARS = [
    ("Webinar: Orchestrating ABM plays", FunnelPosition.MOFU),
    ("Webinar: Sales and marketing alignment", FunnelPosition.TOFU),
    ("Webinar: Product deep dive", FunnelPosition.BOFU),
]
FIELD_EVENTS = [
    ("Executive roundtable", FunnelPosition.BOFU),
    ("Customer summit", FunnelPosition.MOFU),
]
#: (topic, is a competitor topic)
INTENT_TOPICS = [
    ("Account-based marketing", False),
    ("Marketing attribution", False),
    ("B2B intent data", False),
    ("Revenue operations", False),
    ("Sales engagement platforms", False),
    ("Rivalytics alternatives", True),
    ("Pipelinr pricing", True),
]
PRODUCTS = ["Intent add-on", "Attribution module", "Extra seats", "Premium support", "Data cloud"]
OPEN_CRM_STAGES = ["Discovery", "Solution design", "Proposal", "Negotiation"]

#: Per-program spend: (category, cadence, channel, base amount per day or week).
#: Programs: name, type, tier ranks (empty = any), start as (anchor "window"|"end", offset
#: days), end as days from the window end (None = open-ended), the touch kinds it drives,
#: optional industries / customers_only / non_target (also reaches non-target accounts).
PROGRAMS: list[dict[str, Any]] = [
    {
        "name": "Tier 1 Strategic Accounts",
        "type": ProgramType.ONE_TO_ONE,
        "tiers": [1],
        "start": ("window", -60),
        "end": None,
        "kinds": [K.MEETING, K.CALL_CONNECTED, K.DIRECT_MAIL_SENT, K.EMAIL_SENT, K.EMAIL_REPLY],
        "spend": [
            (SpendCategory.SALES, "weekly", "account_executives", 6500),
            (SpendCategory.MARKETING, "weekly", "direct_mail", 1800),
        ],
    },
    {
        "name": "Executive Roundtables",
        "type": ProgramType.ONE_TO_FEW,
        "tiers": [1, 2],
        "start": ("window", 30),
        "end": -120,
        "kinds": [K.EVENT_ATTENDED, K.MEETING, K.DIRECT_MAIL_SENT],
        "spend": [(SpendCategory.MARKETING, "weekly", "events", 4200)],
    },
    {
        "name": "Industry Cluster: Financial Services & Healthcare",
        "type": ProgramType.ONE_TO_FEW,
        "tiers": [2],
        "start": ("window", 90),
        "end": None,
        "industries": ["Financial Services", "Healthcare"],
        "kinds": [K.AD_IMPRESSION, K.AD_CLICK, K.EMAIL_SENT, K.EMAIL_OPEN, K.CONTENT_DOWNLOAD],
        "spend": [
            (SpendCategory.MARKETING, "daily", "linkedin", 260),
            (SpendCategory.SALES, "weekly", "sdr_team", 2400),
        ],
    },
    {
        "name": "Programmatic Display (Tier 2-3)",
        "type": ProgramType.ONE_TO_MANY,
        "tiers": [2, 3],
        "start": ("window", 0),
        "end": None,
        "kinds": [K.AD_IMPRESSION, K.AD_CLICK, K.WEB_VISIT, K.HIGH_VALUE_PAGE_VISIT],
        "spend": [(SpendCategory.MARKETING, "daily", "display", 420)],
    },
    {
        "name": "Always-on Nurture",
        "type": ProgramType.ONE_TO_MANY,
        "tiers": [3],
        "start": ("window", 0),
        "end": None,
        "kinds": [K.EMAIL_SENT, K.EMAIL_OPEN, K.EMAIL_CLICK, K.CONTENT_DOWNLOAD, K.FORM_FILL],
        "spend": [(SpendCategory.MARKETING, "weekly", "email", 900)],
    },
    {
        "name": "Competitive Takeout",
        "type": ProgramType.ONE_TO_FEW,
        "tiers": [1, 2],
        "start": ("end", -200),
        "end": 60,
        "kinds": [K.AD_IMPRESSION, K.AD_CLICK, K.EMAIL_SENT, K.HIGH_VALUE_PAGE_VISIT, K.MEETING],
        "spend": [
            (SpendCategory.MARKETING, "daily", "linkedin", 380),
            (SpendCategory.SALES, "weekly", "sdr_team", 3100),
        ],
    },
    {
        "name": "Customer Expansion Plays",
        "type": ProgramType.ONE_TO_FEW,
        "tiers": [],
        "start": ("window", 120),
        "end": None,
        "customers_only": True,
        "kinds": [K.EMAIL_SENT, K.MEETING, K.EVENT_ATTENDED, K.CALL_CONNECTED],
        "spend": [(SpendCategory.SALES, "weekly", "customer_success", 2800)],
    },
    {
        "name": "Webinar Series",
        "type": ProgramType.ONE_TO_MANY,
        "tiers": [1, 2, 3],
        "start": ("window", 0),
        "end": None,
        "non_target": True,
        "kinds": [K.EVENT_ATTENDED, K.FORM_FILL, K.EMAIL_SENT, K.CONTENT_DOWNLOAD],
        "spend": [(SpendCategory.MARKETING, "weekly", "webinars", 1500)],
    },
]
#: Spend without a program: non-ABM marketing, sales salaries, onboarding, support.
GENERAL_SPEND = [
    (SpendCategory.MARKETING, "daily", "paid_search", 650),
    (SpendCategory.MARKETING, "weekly", "content", 3200),
    (SpendCategory.SALES, "weekly", "sales_team", 31000),
    (SpendCategory.ONBOARDING, "weekly", "onboarding", 5200),
    (SpendCategory.SUPPORT, "weekly", "support", 7800),
]

#: (channel, direction) choices per kind.
KIND_CHANNELS: dict[str, list[tuple[str, str]]] = {
    K.AD_IMPRESSION: [
        ("display", Direction.OUTBOUND),
        ("linkedin", Direction.OUTBOUND),
        ("email_signature", Direction.OUTBOUND),
    ],
    K.AD_CLICK: [("display", Direction.INBOUND), ("linkedin", Direction.INBOUND)],
    K.WEB_VISIT: [("web", Direction.INBOUND)],
    K.HIGH_VALUE_PAGE_VISIT: [("web", Direction.INBOUND)],
    K.CHAT_CONVERSATION: [("chat", Direction.INBOUND)],
    K.EMAIL_SENT: [("email", Direction.OUTBOUND)],
    K.EMAIL_OPEN: [("email", Direction.INBOUND)],
    K.EMAIL_CLICK: [("email", Direction.INBOUND)],
    K.EMAIL_REPLY: [("email", Direction.INBOUND)],
    K.FORM_FILL: [("web", Direction.INBOUND)],
    K.CONTENT_DOWNLOAD: [("web", Direction.INBOUND)],
    K.MEETING: [("video", Direction.OUTBOUND), ("in_person", Direction.OUTBOUND)],
    K.CALL_CONNECTED: [("phone", Direction.OUTBOUND), ("phone", Direction.INBOUND)],
    K.EVENT_ATTENDED: [("webinar", Direction.INBOUND), ("field_event", Direction.INBOUND)],
    K.SOCIAL_INTERACTION: [("linkedin", Direction.INBOUND), ("twitter", Direction.INBOUND)],
    K.REFERRAL: [("partner", Direction.INBOUND), ("customer", Direction.INBOUND)],
    K.DIRECT_MAIL_SENT: [("direct_mail", Direction.OUTBOUND)],
    K.INTENT_SIGNAL: [("intent", Direction.INBOUND)],
}
PERSON_KINDS = frozenset(
    {
        K.EMAIL_SENT,
        K.EMAIL_OPEN,
        K.EMAIL_CLICK,
        K.EMAIL_REPLY,
        K.MEETING,
        K.CALL_CONNECTED,
        K.FORM_FILL,
        K.CONTENT_DOWNLOAD,
        K.EVENT_ATTENDED,
        K.CHAT_CONVERSATION,
        K.SOCIAL_INTERACTION,
        K.DIRECT_MAIL_SENT,
        K.REFERRAL,
    }
)

#: Kind mixes (relative weights) per cohort and phase of the account's journey.
_ENGAGED_ABM = {
    K.AD_IMPRESSION: 34, K.AD_CLICK: 0.55, K.WEB_VISIT: 14, K.HIGH_VALUE_PAGE_VISIT: 1.2,
    K.CHAT_CONVERSATION: 0.5, K.EMAIL_SENT: 18, K.EMAIL_OPEN: 5.5, K.EMAIL_CLICK: 1.3,
    K.EMAIL_REPLY: 0.6, K.FORM_FILL: 0.6, K.CONTENT_DOWNLOAD: 1.6, K.MEETING: 0.5,
    K.CALL_CONNECTED: 0.7, K.EVENT_ATTENDED: 0.6, K.SOCIAL_INTERACTION: 1.5, K.REFERRAL: 0.1,
    K.DIRECT_MAIL_SENT: 0.8,
}  # fmt: skip
_OPP_ABM = {
    K.AD_IMPRESSION: 20, K.AD_CLICK: 0.4, K.WEB_VISIT: 14, K.HIGH_VALUE_PAGE_VISIT: 3.5,
    K.CHAT_CONVERSATION: 0.8, K.EMAIL_SENT: 20, K.EMAIL_OPEN: 7, K.EMAIL_CLICK: 1.8,
    K.EMAIL_REPLY: 3, K.FORM_FILL: 0.5, K.CONTENT_DOWNLOAD: 1.8, K.MEETING: 4,
    K.CALL_CONNECTED: 3, K.EVENT_ATTENDED: 0.8, K.SOCIAL_INTERACTION: 1, K.REFERRAL: 0.2,
    K.DIRECT_MAIL_SENT: 1,
}  # fmt: skip
_CUSTOMER = {
    K.AD_IMPRESSION: 10, K.AD_CLICK: 0.2, K.WEB_VISIT: 12, K.HIGH_VALUE_PAGE_VISIT: 0.4,
    K.CHAT_CONVERSATION: 1.2, K.EMAIL_SENT: 14, K.EMAIL_OPEN: 5.5, K.EMAIL_CLICK: 1.2,
    K.EMAIL_REPLY: 1.8, K.FORM_FILL: 0.2, K.CONTENT_DOWNLOAD: 1.2, K.MEETING: 2.2,
    K.CALL_CONNECTED: 1.6, K.EVENT_ATTENDED: 1.4, K.SOCIAL_INTERACTION: 1.2, K.REFERRAL: 0.5,
    K.DIRECT_MAIL_SENT: 0.3,
}  # fmt: skip
_ENGAGED_NON = {
    K.AD_IMPRESSION: 6, K.AD_CLICK: 0.2, K.WEB_VISIT: 18, K.HIGH_VALUE_PAGE_VISIT: 1.0,
    K.CHAT_CONVERSATION: 0.7, K.EMAIL_SENT: 12, K.EMAIL_OPEN: 3.5, K.EMAIL_CLICK: 0.8,
    K.EMAIL_REPLY: 0.3, K.FORM_FILL: 1.0, K.CONTENT_DOWNLOAD: 1.8, K.MEETING: 0.2,
    K.CALL_CONNECTED: 0.4, K.EVENT_ATTENDED: 0.3, K.SOCIAL_INTERACTION: 1.2, K.REFERRAL: 0.15,
    K.DIRECT_MAIL_SENT: 0.05,
}  # fmt: skip
_OPP_NON = {
    K.AD_IMPRESSION: 4, K.AD_CLICK: 0.1, K.WEB_VISIT: 14, K.HIGH_VALUE_PAGE_VISIT: 2.5,
    K.CHAT_CONVERSATION: 0.8, K.EMAIL_SENT: 16, K.EMAIL_OPEN: 5, K.EMAIL_CLICK: 1.2,
    K.EMAIL_REPLY: 1.8, K.FORM_FILL: 0.6, K.CONTENT_DOWNLOAD: 1.2, K.MEETING: 2,
    K.CALL_CONNECTED: 2, K.EVENT_ATTENDED: 0.2, K.SOCIAL_INTERACTION: 0.5, K.REFERRAL: 0.1,
    K.DIRECT_MAIL_SENT: 0.05,
}  # fmt: skip
_PRE_ABM = {K.AD_IMPRESSION: 70, K.EMAIL_SENT: 27, K.DIRECT_MAIL_SENT: 1.2}
_PRE_NON = {K.AD_IMPRESSION: 15, K.EMAIL_SENT: 80, K.DIRECT_MAIL_SENT: 0.2}
_CHURNED = {K.AD_IMPRESSION: 25, K.EMAIL_SENT: 55, K.WEB_VISIT: 8, K.EMAIL_OPEN: 6}
KIND_MIX: dict[tuple[bool, str], dict[str, float]] = {
    (True, "pre"): _PRE_ABM,
    (True, "engaged"): _ENGAGED_ABM,
    (True, "opp"): _OPP_ABM,
    (True, "customer"): _CUSTOMER,
    (True, "churned"): _CHURNED,
    (False, "pre"): _PRE_NON,
    (False, "engaged"): _ENGAGED_NON,
    (False, "opp"): _OPP_NON,
    (False, "customer"): _CUSTOMER,
    (False, "churned"): _CHURNED,
}
PHASE_WEIGHT = {"pre": 0.35, "engaged": 1.0, "opp": 2.3, "customer": 1.25, "churned": 0.12}
TIER_WEIGHT = {1: 3.2, 2: 1.7, 3: 1.0, 0: 0.55}
STAGE_RANK = {s: i for i, s in enumerate(Stage.values)}


# --- Small helpers ------------------------------------------------------------


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole months, clamped to the month's last day."""
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _money(x: float) -> Decimal:
    return Decimal(f"{max(x, 0):.2f}")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def _weighted(rng: random.Random, pairs: Sequence[tuple[Any, float]]) -> Any:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


@dataclass
class _Opp:
    type: str
    status: str
    amount: float
    created_on: dt.date | None
    closed_on: dt.date | None
    term_months: int = 12
    contract_start: dt.date | None = None
    contract_end: dt.date | None = None
    name: str = ""
    crm_stage: str = ""


@dataclass
class _Acct:
    """The in-memory plan of one account: firmographics and its whole journey."""

    idx: int
    name: str
    domain: str
    tier: int  # 0 = no tier (non-target)
    is_target: bool
    targeted_on: dt.date | None
    untargeted_on: dt.date | None
    industry: str
    country: str
    employees: int
    revenue: Decimal
    owner: str | None
    e0: dt.date | None = None
    customer_from: dt.date | None = None
    churned_on: dt.date | None = None
    opps: list[_Opp] = field(default_factory=list)
    contracts: list[tuple[dt.date, dt.date, float]] = field(default_factory=list)
    nb_windows: list[tuple[int, int]] = field(default_factory=list)  # ordinal open spans
    nb_created: list[int] = field(default_factory=list)
    stakeholders: list[tuple[dt.date, str, str, str, str]] = field(default_factory=list)
    visitors: list[tuple[str, dt.datetime, dt.datetime | None, str | None]] = field(
        default_factory=list
    )
    id: int = 0

    @property
    def abm(self) -> bool:
        return self.is_target


# --- The builder --------------------------------------------------------------


class _Builder:
    def __init__(self, config: DemoConfig, *, log: Callable[[str], None], progress_file):
        self.c = config
        self.rng = random.Random(config.seed)
        self.end = config.end_date
        self.start = add_months(self.end, -config.months) + dt.timedelta(days=1)
        self.days = (self.end - self.start).days + 1
        self.scale = config.accounts / DEFAULT_ACCOUNTS
        self.tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
        self.log = log
        self.progress_file = progress_file
        self.counts: dict[str, int] = {}
        self.now = timezone.now()
        self.accounts: list[_Acct] = []
        self.opp_seq = 0
        self._t0 = time.monotonic()

    # -- orchestration --
    def run(self) -> None:
        self._users()
        self._reference_tables()
        self._plan_accounts()
        self._plan_journeys()
        self._plan_people()
        self._write_accounts()
        self._write_stakeholders()
        self._write_programs_and_spend()
        self._write_visitors()
        self._write_intent()
        self._write_opportunities_and_nps()
        self._write_touches()
        self._write_stage_changes()

    def _step(self, label: str, n: int) -> None:
        self.counts[label] = self.counts.get(label, 0) + n
        self.log(f"  {label:<22} {n:>9,}  ({time.monotonic() - self._t0:5.1f}s)")

    def _day(self, lo: dt.date, hi: dt.date) -> dt.date:
        """A uniform day in [lo, hi]."""
        span = (hi - lo).days
        return lo + dt.timedelta(days=self.rng.randint(0, max(span, 0)))

    def _at(self, day: dt.date, lo_hour: int = 8, hi_hour: int = 18) -> dt.datetime:
        seconds = self.rng.randrange(lo_hour * 3600, hi_hour * 3600)
        return dt.datetime(
            day.year, day.month, day.day, seconds // 3600, seconds // 60 % 60, seconds % 60,
            tzinfo=self.tz,
        )  # fmt: skip

    # -- users, tiers, ICP rules, high-value pages --
    def _users(self) -> None:
        User = get_user_model()
        users = []
        for first, last, _role in REPS:
            user = User(
                username=f"{first}.{last.lower()}",
                email=f"{first}.{last.lower()}@{DEMO_USER_DOMAIN}",
                first_name=first.title(),
                last_name=last,
            )
            user.set_unusable_password()
            users.append(user)
        User.objects.bulk_create(users)
        by_name = dict(
            User.objects.filter(username__in=[u.username for u in users]).values_list(
                "username", "id"
            )
        )
        groups = dict(Group.objects.filter(name__in=["viewer", "editor"]).values_list("name", "id"))
        missing = [g for g in ("viewer", "editor") if g not in groups]
        if missing:
            raise RuntimeError(f"Role groups {missing} are missing: run `manage.py migrate` first.")
        Through = User.groups.through
        Through.objects.bulk_create(
            Through(user_id=by_name[u.username], group_id=groups[role])
            for u, (_f, _l, role) in zip(users, REPS, strict=True)
        )
        self.user_ids = by_name
        self.editors = [u.username for u, r in zip(users, REPS, strict=True) if r[2] == "editor"]
        self.all_reps = [u.username for u in users]
        self._step("users", len(users))

    def _reference_tables(self) -> None:
        Tier.objects.bulk_create(Tier(name=n, rank=r) for n, r in TIERS)
        self.tier_ids = dict(Tier.objects.values_list("rank", "id"))
        rules = [
            IcpRule(attribute=IcpAttribute.INDUSTRY, values=ICP_INDUSTRIES, weight=3),
            IcpRule(attribute=IcpAttribute.EMPLOYEES, min_value=200, max_value=10000, weight=2),
            IcpRule(
                attribute=IcpAttribute.ANNUAL_REVENUE,
                min_value=Decimal("20000000"),
                max_value=Decimal("2000000000"),
                weight=2,
            ),
            IcpRule(attribute=IcpAttribute.COUNTRY, values=ICP_COUNTRIES, weight=1),
            # An inactive rule, as admins keep retired criteria around.
            IcpRule(attribute=IcpAttribute.COUNTRY, values=["Japan"], weight=1, is_active=False),
        ]
        IcpRule.objects.bulk_create(rules)
        HighValuePage.objects.bulk_create(
            HighValuePage(url_pattern=p, label=label) for p, label in HIGH_VALUE_PAGES
        )
        self._step("tiers", len(TIERS))
        self._step("ICP rules", len(rules))
        self._step("high-value pages", len(HIGH_VALUE_PAGES))

    # -- accounts --
    def _plan_accounts(self) -> None:
        rng, n = self.rng, self.c.accounts
        n_target = round(n * 0.75)
        names_seen: dict[str, int] = {}
        for i in range(n):
            is_target = i < n_target
            if is_target:
                u = rng.random()
                tier = 1 if u < 0.10 else 2 if u < 0.40 else 3
            else:
                tier = 0
            p_icp = {1: 0.92, 2: 0.8, 3: 0.65, 0: 0.35}[tier]
            for _attempt in range(20):
                name = f"{rng.choice(NAME_HEADS)}{rng.choice(NAME_ROOTS)} {rng.choice(NAME_TAILS)}"
                if name not in names_seen:
                    break
            if name in names_seen:
                names_seen[name] += 1
                name = f"{name} {names_seen[name]}"
            names_seen[name] = 1
            industry = rng.choice(ICP_INDUSTRIES if rng.random() < p_icp else OTHER_INDUSTRIES)
            country = rng.choice(ICP_COUNTRIES if rng.random() < p_icp else OTHER_COUNTRIES)
            if rng.random() < p_icp:
                employees = int(math.exp(rng.uniform(math.log(220), math.log(9500))))
            elif rng.random() < 0.7:
                employees = rng.randint(12, 190)
            else:
                employees = rng.randint(10_500, 60_000)
            revenue = employees * rng.uniform(90_000, 400_000)
            if tier == 1:
                revenue *= 1.4
            revenue_d = Decimal(round(revenue, -3)).quantize(Decimal("0.01"))
            targeted_on = untargeted_on = None
            if is_target:
                u = rng.random()
                if u < 0.15:  # joined the list during the window
                    targeted_on = self._day(self.start + dt.timedelta(days=20), self.end)
                elif u < 0.19:  # taken off the list
                    untargeted_on = self._day(self.start + dt.timedelta(days=60), self.end)
            if tier == 1:
                owner = rng.choice(self.editors)
            elif tier or rng.random() < 0.7:
                owner = rng.choice(self.all_reps)
            else:
                owner = None
            self.accounts.append(
                _Acct(
                    idx=i,
                    name=name,
                    domain=normalize_domain(f"{_slug(name)}.example"),
                    tier=tier,
                    is_target=is_target,
                    targeted_on=targeted_on,
                    untargeted_on=untargeted_on,
                    industry=industry,
                    country=country,
                    employees=employees,
                    revenue=revenue_d,
                    owner=owner,
                )
            )

    # -- journeys: engagement, opportunities, contracts, renewals, expansions, churn --
    def _plan_journeys(self) -> None:
        for a in self.accounts:
            self._plan_journey(a)
        self._ensure_outcomes()
        self._plan_unknown_created()

    def _ensure_outcomes(self) -> None:
        """At small sizes chance may skip a renewal or expansion outcome: add one consistently.

        Only customers that fit the outcome are touched (a lost renewal turns a
        customer's last renewal into a churn), so the story stays coherent.
        """
        have = {(o.type, o.status) for a in self.accounts for o in a.opps}
        end, rng = self.end, self.rng
        live = [a for a in self.accounts if a.customer_from and not a.churned_on and a.contracts]
        R, E = OpportunityType.RENEWAL, OpportunityType.EXPANSION
        WON, LOST, OPEN = OpportunityStatus.WON, OpportunityStatus.LOST, OpportunityStatus.OPEN
        if (R, LOST) not in have:
            for a in live:
                renewals = [o for o in a.opps if o.type == R and o.status == WON]
                if not renewals or len(a.contracts) < 2:
                    continue
                final = renewals[-1]
                churn = a.contracts[-2][1]
                final.status, final.crm_stage = LOST, "Closed Lost"
                final.contract_start = final.contract_end = None
                final.term_months = 12
                a.churned_on = churn
                a.contracts.pop()
                # Nothing of the customer outlives the churn.
                a.opps = [
                    o
                    for o in a.opps
                    if o is final
                    or (
                        o.status != OPEN
                        and (o.created_on or churn) <= churn
                        and (o.closed_on or churn) <= churn
                        and (o.contract_end or churn) <= churn
                    )
                ]
                live.remove(a)
                break
        have = {(o.type, o.status) for a in self.accounts for o in a.opps}
        if live and (R, OPEN) not in have:
            a = live[0]
            amount = round(a.contracts[-1][2], -2)
            self._new_opp(a, _Opp(R, OPEN, amount, end - dt.timedelta(days=10), None))
        if live and (E, OPEN) not in have:
            a = live[-1]
            amount = round(a.contracts[-1][2] * 0.2, -2)
            self._new_opp(a, _Opp(E, OPEN, amount, end - dt.timedelta(days=15), None))
        if live and (E, LOST) not in have:
            a = live[len(live) // 2]
            amount = round(a.contracts[-1][2] * 0.25, -2)
            created = max(a.customer_from, end - dt.timedelta(days=70))  # type: ignore[type-var]
            closed = min(end, created + dt.timedelta(days=rng.randint(20, 50)))
            self._new_opp(a, _Opp(E, LOST, amount, created, closed))
        if (E, WON) not in have:
            for a in live:
                c_start, c_end, annual = a.contracts[-1]
                closed = min(end - dt.timedelta(days=5), c_end - dt.timedelta(days=31))
                if closed < max(c_start, self.start) + dt.timedelta(days=30):
                    continue
                opp = _Opp(E, WON, round(annual * 0.2, -2), closed - dt.timedelta(days=30), closed)
                opp.contract_start, opp.contract_end = closed + dt.timedelta(days=1), c_end
                opp.term_months = max(1, round((c_end - opp.contract_start).days / 30.44))
                self._new_opp(a, opp)
                break

    def _new_opp(self, a: _Acct, opp: _Opp) -> None:
        label = {
            OpportunityType.NEW_BUSINESS: "New business",
            OpportunityType.RENEWAL: "Renewal",
            OpportunityType.EXPANSION: "Expansion",
        }[opp.type]
        year = (opp.closed_on or opp.created_on or self.end).year
        extra = f": {self.rng.choice(PRODUCTS)}" if opp.type == OpportunityType.EXPANSION else ""
        opp.name = f"{a.name} - {label}{extra} {year}"
        if opp.status == OpportunityStatus.WON:
            opp.crm_stage = "Closed Won"
        elif opp.status == OpportunityStatus.LOST:
            opp.crm_stage = "Closed Lost"
        else:
            age = (self.end - (opp.created_on or self.end)).days
            opp.crm_stage = OPEN_CRM_STAGES[min(3, age // 35)]
        a.opps.append(opp)

    def _contract(self, a: _Acct, opp: _Opp, start: dt.date, term: int) -> None:
        opp.term_months = term
        opp.contract_start = start
        opp.contract_end = add_months(start, term) - dt.timedelta(days=1)

    def _plan_journey(self, a: _Acct) -> None:
        rng = self.rng
        t = a.tier
        abm = a.abm
        start, end = self.start, self.end
        active_from = a.targeted_on or start
        # Customers from before the window: their renewals fall inside it.
        p_existing = {1: 0.18, 2: 0.14, 3: 0.10, 0: 0.12}[t]
        if rng.random() < p_existing:
            closed = start - dt.timedelta(days=rng.randint(20, 340))
            cycle = int(rng.lognormvariate(math.log(120 if abm else 60), 0.3))
            opp = _Opp(
                OpportunityType.NEW_BUSINESS,
                OpportunityStatus.WON,
                self._deal_amount(a),
                closed - dt.timedelta(days=cycle),
                closed,
            )
            self._contract(a, opp, closed + dt.timedelta(days=rng.randint(0, 10)), 12)
            self._new_opp(a, opp)
            a.customer_from = closed
            a.e0 = start + dt.timedelta(days=rng.randint(0, 20))
            self._plan_customer(a, opp)
            return
        p_engaged = {1: 0.96, 2: 0.88, 3: 0.74, 0: 0.55}[t]
        if rng.random() >= p_engaged:
            return
        span = (end - active_from).days
        a.e0 = active_from + dt.timedelta(days=int(span * rng.random() ** 1.25))
        p_opp = {1: 0.62, 2: 0.48, 3: 0.36, 0: 0.30}[t]
        cursor = a.e0
        attempts = 0
        while attempts < 2 and rng.random() < (p_opp if attempts == 0 else 0.3):
            attempts += 1
            gap = int(rng.gammavariate(2.0, 38 if abm else 22)) + 7
            created = cursor + dt.timedelta(days=gap)
            if created > end:
                break
            a.nb_created.append(created.toordinal())
            median = {1: 150, 2: 118, 3: 98, 0: 58}[t]
            cycle = max(7, int(rng.lognormvariate(math.log(median), 0.35)))
            closed = created + dt.timedelta(days=cycle)
            amount = self._deal_amount(a)
            nb = OpportunityType.NEW_BUSINESS
            if closed > end:
                self._new_opp(a, _Opp(nb, OpportunityStatus.OPEN, amount, created, None))
                a.nb_windows.append((created.toordinal(), end.toordinal()))
                break
            a.nb_windows.append((created.toordinal(), closed.toordinal()))
            p_win = {1: 0.55, 2: 0.48, 3: 0.42, 0: 0.22}[t]
            if rng.random() < p_win:
                opp = _Opp(nb, OpportunityStatus.WON, amount, created, closed)
                terms = [(12, 60), (24, 20), (36, 20)] if abm else [(12, 85), (24, 15)]
                term = _weighted(rng, terms)
                self._contract(a, opp, closed + dt.timedelta(days=rng.randint(0, 14)), term)
                self._new_opp(a, opp)
                a.customer_from = closed
                self._plan_customer(a, opp)
                break
            self._new_opp(a, _Opp(nb, OpportunityStatus.LOST, amount, created, closed))
            cursor = closed + dt.timedelta(days=rng.randint(45, 150))

    def _deal_amount(self, a: _Acct) -> float:
        median = {1: 145_000, 2: 88_000, 3: 56_000, 0: 27_000}[a.tier]
        return round(self.rng.lognormvariate(math.log(median), 0.4), -2)

    def _plan_customer(self, a: _Acct, first: _Opp) -> None:
        """Renewal chain (renew or churn) and expansions of a new customer."""
        rng, end, abm, t = self.rng, self.end, a.abm, a.tier
        R, E = OpportunityType.RENEWAL, OpportunityType.EXPANSION
        WON, LOST, OPEN = OpportunityStatus.WON, OpportunityStatus.LOST, OpportunityStatus.OPEN
        assert first.contract_start and first.contract_end
        annual = first.amount / (first.term_months / 12)
        a.contracts.append((first.contract_start, first.contract_end, annual))
        c_end = first.contract_end
        while c_end <= end + dt.timedelta(days=90):
            created = c_end - dt.timedelta(days=rng.randint(60, 100))
            if created > end:
                break
            annual = round(annual * rng.uniform(1.0, 1.08), -2)
            if c_end >= end - dt.timedelta(days=20):  # still being negotiated
                self._new_opp(a, _Opp(R, OPEN, annual, created, None))
                break
            p_renew = {1: 0.94, 2: 0.9, 3: 0.86, 0: 0.7}[t]
            closed = min(end, max(created, c_end + dt.timedelta(days=rng.randint(-30, 20))))
            if rng.random() < p_renew:
                term = 12 if rng.random() < (0.75 if abm else 0.9) else 24
                opp = _Opp(R, WON, annual * term / 12, created, closed)
                self._contract(a, opp, c_end + dt.timedelta(days=1), term)
                self._new_opp(a, opp)
                assert opp.contract_start and opp.contract_end
                a.contracts.append((opp.contract_start, opp.contract_end, annual))
                c_end = opp.contract_end
            else:
                self._new_opp(a, _Opp(R, LOST, annual, created, closed))
                a.churned_on = c_end
                break
        # Expansions while a customer: a monthly chance, higher for ABM accounts.
        rate = {1: 1.3, 2: 0.95, 3: 0.75, 0: 0.35}[t] / 12
        assert first.closed_on
        month = max(first.closed_on, self.start) + dt.timedelta(days=45)
        stop = min(end, a.churned_on or end)
        while month <= stop:
            if rng.random() < rate:
                created = month + dt.timedelta(days=rng.randint(0, 27))
                if created > stop:
                    break
                cycle = rng.randint(20, 80) if abm else rng.randint(15, 50)
                closed = created + dt.timedelta(days=cycle)
                base = next(((s, e, an) for s, e, an in a.contracts if s <= closed <= e), None)
                amount = round((base[2] if base else annual) * rng.uniform(0.1, 0.4), -2)
                if closed > end:
                    self._new_opp(a, _Opp(E, OPEN, amount, created, None))
                elif base and (base[1] - closed).days > 30 and rng.random() < (0.7 if abm else 0.5):
                    # Co-termed with the running contract so one renewal covers both.
                    opp = _Opp(E, WON, amount, created, closed)
                    c_start = closed + dt.timedelta(days=rng.randint(1, 7))
                    opp.contract_start, opp.contract_end = c_start, base[1]
                    opp.term_months = max(1, round((base[1] - c_start).days / 30.44))
                    self._new_opp(a, opp)
                else:
                    self._new_opp(a, _Opp(E, LOST, amount, created, closed))
            month += dt.timedelta(days=30)

    def _plan_unknown_created(self) -> None:
        """A few opportunities from a CRM export that did not know their creation date."""
        for a in self.accounts:
            for opp in a.opps:
                if opp.type == OpportunityType.NEW_BUSINESS and self.rng.random() < 0.02:
                    opp.created_on = None

    # -- stakeholders and visitors (plans) --
    def _plan_people(self) -> None:
        rng = self.rng
        for a in self.accounts:
            engaged = a.e0 is not None
            # Engaged accounts have a buying committee of 10+; others a few known names.
            n = 10 + rng.randint(0, 8) + (6 if a.tier == 1 else 0) if engaged else rng.randint(0, 4)
            roles = [BuyingRole.DECISION_MAKER, BuyingRole.CHAMPION, BuyingRole.INFLUENCER]
            roles += [_weighted(rng, ROLE_MIX) for _ in range(max(0, n - len(roles)))]
            emails: dict[str, int] = {}
            anchor = a.e0 or self.start
            for k, role in enumerate(roles[:n]):
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                local = f"{first}.{last}".lower()
                if local in emails:
                    emails[local] += 1
                    local = f"{local}{emails[local]}"
                emails[local] = 1
                if k < 3 or a.customer_from and a.customer_from < self.start:
                    known = anchor - dt.timedelta(days=rng.randint(0, 90))
                else:
                    span = (self.end - anchor).days
                    known = anchor + dt.timedelta(days=int(span * rng.random() ** 1.5))
                a.stakeholders.append(
                    (
                        known,
                        f"{first} {last}",
                        f"{local}@{a.domain}",
                        rng.choice(ROLE_TITLES[role]),
                        role,
                    )
                )
            a.stakeholders.sort(key=lambda s: (s[0], s[2]))
            if engaged:
                n_vis = rng.randint(1, 3) + (2 if a.tier == 1 else 0)
                p_identify = 0.45 if a.abm else 0.25
                for _ in range(n_vis):
                    seen = self._at(self._day(a.e0, self.end), 0, 24)  # type: ignore[arg-type]
                    identified = who = None
                    if a.stakeholders and rng.random() < p_identify:
                        when = seen + dt.timedelta(hours=rng.randint(1, 24 * 60))
                        if when.date() <= self.end:
                            identified = when
                            who = rng.choice(a.stakeholders)[2]
                    a.visitors.append((f"{rng.getrandbits(64):016x}", seen, identified, who))

    # -- writes --
    def _write_accounts(self) -> None:
        rows = [
            (
                a.name, a.domain, a.industry, a.employees, a.revenue, a.country,
                self.tier_ids.get(a.tier), a.targeted_on, a.untargeted_on, a.is_target,
                {1: ProgramType.ONE_TO_ONE, 2: ProgramType.ONE_TO_FEW, 3: ProgramType.ONE_TO_MANY}.get(
                    a.tier, ""
                ),
                self.user_ids[a.owner] if a.owner else None, a.churned_on, SOURCE,
                f"demo-a{a.idx:06d}", True, None, "",
            )
            for a in self.accounts
        ]  # fmt: skip
        fields = [
            "name", "domain", "industry", "employees", "annual_revenue", "country", "tier_id",
            "targeted_on", "untargeted_on", "is_target", "program_type", "owner_id", "churned_on",
            "source", "external_id", "needs_recompute", "fit_score", "fit_grade",
        ]  # fmt: skip
        n = bulk_write(Account, fields, rows, now=self.now)
        ids = dict(Account.objects.filter(source=SOURCE).values_list("external_id", "id"))
        for a in self.accounts:
            a.id = ids[f"demo-a{a.idx:06d}"]
        account_fit_refresh(Account.objects.filter(source=SOURCE))
        self._step("accounts", n)

    def _write_stakeholders(self) -> None:
        fields = ["account_id", "name", "email", "title", "buying_role", "known_since", "source"]
        rows = (
            (a.id, name, email, title, role, known, SOURCE)
            for a in self.accounts
            for known, name, email, title, role in a.stakeholders
        )
        n = bulk_write(Stakeholder, fields, rows, now=self.now)
        self.sh_ids = {
            (acc, email): pk
            for acc, email, pk in Stakeholder.objects.filter(source=SOURCE).values_list(
                "account_id", "email", "id"
            )
        }
        self._step("stakeholders", n)

    def _write_programs_and_spend(self) -> None:
        rng = self.rng
        spend_rows: list[tuple] = []
        self.programs: list[dict[str, Any]] = []
        seq = 0
        for spec in PROGRAMS:
            anchor, offset = spec["start"]
            p_start = (self.start if anchor == "window" else self.end) + dt.timedelta(days=offset)
            p_end = None if spec["end"] is None else self.end + dt.timedelta(days=spec["end"])
            spent, planned_days = 0.0, 0
            for category, cadence, channel, base in spec["spend"]:
                for day, amount in self._spend_series(p_start, p_end, cadence, base):
                    seq += 1
                    spend_rows.append(
                        (spec["name"], day, amount, channel, category, SOURCE, f"demo-s{seq:06d}")
                    )
                    spent += float(amount)
            lo = max(p_start, self.start)
            hi = min(p_end or self.end, self.end)
            elapsed = max(1, (hi - lo).days + 1)
            planned_days = ((p_end or add_months(self.end, 6)) - lo).days + 1
            budget = (
                math.ceil(spent * planned_days / elapsed * rng.uniform(1.02, 1.15) / 1000) * 1000
            )
            self.programs.append({**spec, "starts_on": p_start, "ends_on": p_end, "budget": budget})
        Program.objects.bulk_create(
            Program(
                name=p["name"],
                program_type=p["type"],
                budget=Decimal(p["budget"]),
                starts_on=p["starts_on"],
                ends_on=p["ends_on"],
            )
            for p in self.programs
        )
        self.program_ids = dict(Program.objects.values_list("name", "id"))
        Through = Program.target_tiers.through
        Through.objects.bulk_create(
            Through(program_id=self.program_ids[p["name"]], tier_id=self.tier_ids[rank])
            for p in self.programs
            for rank in p["tiers"]
        )
        for category, cadence, channel, base in GENERAL_SPEND:
            for day, amount in self._spend_series(self.start, None, cadence, base):
                seq += 1
                spend_rows.append(
                    (None, day, amount, channel, category, SOURCE, f"demo-s{seq:06d}")
                )
        fields = [
            "program_id",
            "spent_on",
            "amount",
            "channel",
            "category",
            "source",
            "external_id",
        ]
        rows = ((self.program_ids.get(r[0]), *r[1:]) for r in spend_rows)
        self._step("programs", len(self.programs))
        self._step("spend", bulk_write(Spend, fields, rows, now=self.now))
        # Per (tier, kind): the programs that can drive such a touch.
        self.program_pick: dict[tuple[int, str], list[tuple[int, int, int, tuple, bool]]] = {}
        for p in self.programs:
            lo = p["starts_on"].toordinal()
            hi = (p["ends_on"] or self.end).toordinal()
            tiers = p["tiers"] or [1, 2, 3]
            if p.get("non_target"):
                tiers = [*tiers, 0]
            for tier in tiers:
                for kind in p["kinds"]:
                    self.program_pick.setdefault((tier, kind), []).append(
                        (
                            self.program_ids[p["name"]],
                            lo,
                            hi,
                            tuple(p.get("industries", ())),
                            bool(p.get("customers_only")),
                        )
                    )

    def _spend_series(
        self, lo: dt.date, hi: dt.date | None, cadence: str, base: float
    ) -> Iterator[tuple[dt.date, Decimal]]:
        """Daily or weekly (Mondays) amounts in the window, growing towards the end."""
        day = max(lo, self.start)
        last = min(hi or self.end, self.end)
        if cadence == "weekly":
            day += dt.timedelta(days=(7 - day.weekday()) % 7)
        step = dt.timedelta(days=7 if cadence == "weekly" else 1)
        while day <= last:
            progress = (day - self.start).days / self.days
            amount = base * self.scale * (0.75 + 0.5 * progress) * self.rng.uniform(0.7, 1.3)
            yield day, _money(amount)
            day += step

    def _write_visitors(self) -> None:
        rng = self.rng
        rows: list[tuple] = []
        for a in self.accounts:
            for anon, seen, identified, who in a.visitors:
                sh = self.sh_ids.get((a.id, who)) if who else None
                rows.append((anon, a.id, sh, seen, identified if sh else None))
        n_unattributed = round(len(rows) * 0.25)
        for _ in range(n_unattributed):
            seen = self._at(self._day(self.start, self.end), 0, 24)
            rows.append((f"{rng.getrandbits(64):016x}", None, None, seen, None))
        uniq: dict[str, tuple] = {}
        for r in rows:
            uniq.setdefault(r[0], r)
        fields = ["anonymous_id", "account_id", "stakeholder_id", "first_seen_at", "identified_at"]
        n = bulk_write(Visitor, fields, uniq.values(), now=self.now)
        ids = dict(Visitor.objects.values_list("anonymous_id", "id"))
        # Per account: visitors sorted by first seen, as (day ordinal, id, identified ordinal, sh).
        self.visitor_pick: dict[int, list[tuple[int, int, int | None, int | None]]] = {}
        for anon, acc, sh, seen, identified in uniq.values():
            if acc is None:
                continue
            self.visitor_pick.setdefault(acc, []).append(
                (
                    seen.date().toordinal(),
                    ids[anon],
                    identified.date().toordinal() if identified else None,
                    sh,
                )
            )
        for lst in self.visitor_pick.values():
            lst.sort()
        self._step("visitors", n)

    def _write_intent(self) -> None:
        """Weekly intent scores; surges before opportunities and competitor surges before churn."""
        rng = self.rng
        first_week = max(self.start, self.end - dt.timedelta(weeks=52))
        first_week += dt.timedelta(days=(7 - first_week.weekday()) % 7)
        weeks: list[dt.date] = []
        w = first_week
        while w <= self.end:
            weeks.append(w)
            w += dt.timedelta(weeks=1)
        plain = [t for t, comp in INTENT_TOPICS if not comp]
        competitor = [t for t, comp in INTENT_TOPICS if comp]
        is_comp = dict(INTENT_TOPICS)
        rows: list[tuple] = []
        self.intent_touches: dict[int, list[tuple[dt.date, str]]] = {}
        for a in self.accounts:
            if rng.random() >= (0.65 if a.abm else 0.4) and a.churned_on is None:
                continue
            topics = rng.sample(plain, rng.randint(1, 3))
            at_risk = a.churned_on is not None or (a.customer_from and rng.random() < 0.15)
            if at_risk or rng.random() < 0.2:
                topics.append(rng.choice(competitor))
            for topic in topics:
                base = rng.uniform(12, 35)
                history: list[float] = []
                for week in weeks:
                    if rng.random() > 0.45:
                        history.append(-1.0)
                        continue
                    score = base * rng.uniform(0.6, 1.4)
                    wo = week.toordinal()
                    surge = rng.random() < 0.025
                    if not is_comp[topic] and any(0 <= c - wo <= 42 for c in a.nb_created):
                        surge = surge or rng.random() < 0.5
                    if is_comp[topic] and a.churned_on:
                        surge = (
                            surge
                            or 0 <= a.churned_on.toordinal() - wo <= 112
                            and rng.random() < 0.6
                        )
                    elif is_comp[topic] and at_risk:
                        surge = surge or (self.end - week).days <= 90 and rng.random() < 0.2
                    prev = [h for h in history[-8:] if h >= 0]
                    if surge:
                        score = max(
                            score * rng.uniform(2.1, 3.0),
                            2.05 * sum(prev) / len(prev) if prev else 0,
                        )
                    flagged = surge and rng.random() < 0.5 or rng.random() < 0.005
                    history.append(score)
                    rows.append((a.id, topic, is_comp[topic], _money(score), week, flagged, SOURCE))
                    if surge or flagged:
                        self.intent_touches.setdefault(a.id, []).append((week, topic))
        fields = [
            "account_id",
            "topic",
            "is_competitor_topic",
            "score",
            "week",
            "provider_surge",
            "source",
        ]
        self._step("intent signals", bulk_write(IntentSignal, fields, rows, now=self.now))

    def _write_opportunities_and_nps(self) -> None:
        rng = self.rng
        rows: list[tuple] = []
        seq = 0
        for a in self.accounts:
            for o in a.opps:
                seq += 1
                rows.append(
                    (
                        a.id, o.name, o.type, o.status, o.crm_stage, _money(o.amount), o.created_on,
                        o.closed_on, o.term_months, o.contract_start, o.contract_end, SOURCE,
                        f"demo-o{seq:06d}",
                    )
                )  # fmt: skip
        fields = [
            "account_id", "name", "type", "status", "crm_stage", "amount", "created_on",
            "closed_on", "term_months", "contract_start", "contract_end", "source", "external_id",
        ]  # fmt: skip
        self._step("opportunities", bulk_write(Opportunity, fields, rows, now=self.now))
        # NPS: quarterly surveys of customers; ABM customers answer more and happier.
        waves: list[dt.date] = []
        d = dt.date(self.start.year, 1, 15)
        while d <= self.end:
            if d >= self.start:
                waves.append(d)
            d = add_months(d, 3)
        nps: list[tuple] = []
        seq = 0
        for a in self.accounts:
            if not a.customer_from:
                continue
            for wave in waves:
                if wave < a.customer_from or (a.churned_on and wave >= a.churned_on):
                    continue
                churning = a.churned_on and (a.churned_on - wave).days < 200
                p_answer = 0.65 if a.abm else 0.45
                for _ in range(rng.randint(1, 3)):
                    if rng.random() >= p_answer:
                        continue
                    mix = (0.55, 0.30) if a.abm else (0.33, 0.35)
                    if churning:
                        mix = (0.1, 0.3)
                    u = rng.random()
                    if u < mix[0]:
                        score = rng.choice([9, 9, 10])
                    elif u < mix[0] + mix[1]:
                        score = rng.choice([7, 8])
                    else:
                        score = rng.choice([2, 3, 4, 5, 5, 6, 6, 6])
                    day = min(self.end, wave + dt.timedelta(days=rng.randint(0, 20)))
                    known = [s for s in a.stakeholders if s[0] <= day]
                    sh = self.sh_ids.get((a.id, rng.choice(known)[2])) if known else None
                    seq += 1
                    nps.append((a.id, sh, score, day, SOURCE, f"demo-n{seq:06d}"))
        fields = ["account_id", "stakeholder_id", "score", "responded_on", "source", "external_id"]
        self._step("NPS responses", bulk_write(NpsResponse, fields, nps, now=self.now))

    # -- touches --
    def _weeks(self) -> list[tuple[dt.date, int]]:
        out, day = [], self.start
        while day <= self.end:
            out.append((day, min(7, (self.end - day).days + 1)))
            day += dt.timedelta(days=7)
        return out

    def _phase(self, a: _Acct, o: int) -> str:
        if a.churned_on and o >= a.churned_on.toordinal():
            return "churned"
        if a.customer_from and o >= a.customer_from.toordinal():
            return "customer"
        if a.e0 is None or o < a.e0.toordinal():
            return "pre"
        for lo, hi in a.nb_windows:
            if lo <= o <= hi:
                return "opp"
        return "engaged"

    def _weight(self, a: _Acct, o: int, k: int, n_weeks: int) -> float:
        w = TIER_WEIGHT[a.tier] * (0.6 + 1.0 * (k / n_weeks) ** 1.5)
        phase = self._phase(a, o)
        w *= PHASE_WEIGHT[phase] if (a.abm or phase != "pre") else 0.05
        if a.targeted_on and o < a.targeted_on.toordinal():
            w *= 0.5
        if a.untargeted_on and o >= a.untargeted_on.toordinal():
            w *= 0.5
        for c in a.nb_created:
            if 0 < c - o <= 84:
                w *= 1 + 2.0 * (1 - (c - o) / 84)
        return w

    def _write_touches(self) -> None:
        rng = self.rng
        weeks = self._weeks()
        n_weeks = len(weeks)
        weights: list[tuple[_Acct, int, float]] = []
        total_w = 0.0
        for a in self.accounts:
            for k, (wk, ndays) in enumerate(weeks):
                mid = wk.toordinal() + ndays // 2
                w = self._weight(a, mid, k, n_weeks) * ndays / 7
                weights.append((a, k, w))
                total_w += w
        forced = sum(1 for a in self.accounts if a.e0 and a.e0 <= self.end)
        forced += sum(len(v) for v in self.intent_touches.values())
        budget = max(0, self.c.touches - forced - len(K.values))
        factor = budget / total_w if total_w else 0.0
        cells: dict[int, list[tuple[int, int]]] = {}
        for a, k, w in weights:
            lam = w * factor
            n = int(lam) + (1 if rng.random() < lam - int(lam) else 0)
            if n:
                cells.setdefault(a.idx, []).append((k, n))
        self._mix_cache = {
            key: (list(mix), list(_cum(mix.values()))) for key, mix in KIND_MIX.items()
        }
        self._seen_kinds: dict[str, int] = {}
        self._touch_seq = 0
        expected = budget + forced
        fields = [
            "account_id", "stakeholder_id", "program_id", "visitor_id", "kind", "channel",
            "direction", "occurred_at", "url", "asset", "funnel_position", "engagement_minutes",
            "cost", "source", "external_id",
        ]  # fmt: skip

        def stream() -> Iterator[tuple]:
            for a in self.accounts:
                yield from self._account_touches(a, cells.get(a.idx, ()), weeks)
            yield from self._missing_kinds()

        bar = _progress(self.progress_file, expected)
        n = bulk_write(Touch, fields, stream(), now=self.now, on_chunk=bar.update)
        bar.close()
        self._step("touches", n)

    def _account_touches(
        self, a: _Acct, cells: Iterable[tuple[int, int]], weeks: list[tuple[dt.date, int]]
    ) -> Iterator[tuple]:
        rng = self.rng
        if a.e0 and a.e0 <= self.end:  # the first engagement: the account shows up
            kind = K.AD_CLICK if a.abm and rng.random() < 0.35 else K.WEB_VISIT
            yield self._touch(a, kind, a.e0)
        for week, topic in self.intent_touches.get(a.id, ()):
            yield self._touch(a, K.INTENT_SIGNAL, week, asset=f"Intent: {topic}")
        for k, n in cells:
            wk, ndays = weeks[k]
            for _ in range(n):
                day = wk + dt.timedelta(days=rng.randrange(ndays))
                phase = self._phase(a, day.toordinal())
                kinds, cum = self._mix_cache[(a.abm, phase)]
                kind = rng.choices(kinds, cum_weights=cum)[0]
                yield self._touch(a, kind, day, phase=phase)

    def _missing_kinds(self) -> Iterator[tuple]:
        """At tiny sizes a rare kind may not come up: add one of each on an engaged account."""
        host = next((a for a in self.accounts if a.e0 and a.abm), None) or self.accounts[0]
        for kind in K.values:
            if kind not in self._seen_kinds:
                yield self._touch(host, kind, self.end)

    def _touch(
        self, a: _Acct, kind: str, day: dt.date, *, phase: str = "engaged", asset: str = ""
    ) -> tuple:
        rng = self.rng
        self._seen_kinds[kind] = self._seen_kinds.get(kind, 0) + 1
        self._touch_seq += 1
        o = day.toordinal()
        channels = KIND_CHANNELS[kind]
        channel, direction = channels[0] if len(channels) == 1 else rng.choice(channels)
        if kind in (K.AD_IMPRESSION, K.INTENT_SIGNAL):
            when = self._at(day, 0, 24) if kind == K.AD_IMPRESSION else self._at(day, 6, 7)
        else:
            when = self._at(day)
        url = position = ""
        minutes = cost = 0.0
        stakeholder = visitor = None
        if kind == K.WEB_VISIT:
            if rng.random() < 0.35:
                path, asset = rng.choice(BLOG_POSTS)
                position, minutes = FunnelPosition.TOFU, rng.uniform(0.5, 6)
            else:
                path = rng.choice(WEB_PAGES)
                minutes = rng.uniform(0.2, 3)
            url = SITE + path
        elif kind == K.HIGH_VALUE_PAGE_VISIT:
            path, asset = rng.choice(HIGH_VALUE_URLS)
            asset = f"{asset} page"
            url, position, minutes = SITE + path, FunnelPosition.BOFU, rng.uniform(1, 6)
        elif kind in (K.CONTENT_DOWNLOAD, K.FORM_FILL):
            pool = CONTENT if phase != "opp" else CONTENT[3:]
            asset, position, lo, hi = rng.choice(pool)
            url = f"{SITE}/resources/{_slug(asset)}"
            if kind == K.FORM_FILL:
                url += "?form=gated"
                minutes = rng.uniform(0.5, 2)
            else:
                minutes = rng.uniform(lo, hi)
        elif kind == K.EVENT_ATTENDED:
            if channel == "webinar":
                asset, position = rng.choice(WEBINARS)
                minutes = rng.uniform(20, 55)
            else:
                asset, position = rng.choice(FIELD_EVENTS)
                minutes, cost = rng.uniform(60, 180), rng.uniform(120, 400)
        elif kind == K.AD_IMPRESSION:
            cost = rng.uniform(0.02, 0.09)
        elif kind == K.AD_CLICK:
            cost = rng.uniform(2.5, 11)
            url = f"{SITE}{rng.choice(WEB_PAGES[:9])}?utm_source={channel}&utm_medium=paid"
        elif kind == K.DIRECT_MAIL_SENT:
            cost = rng.uniform(30, 120)
        if kind in (K.WEB_VISIT, K.HIGH_VALUE_PAGE_VISIT):
            options = self.visitor_pick.get(a.id)
            if options and rng.random() < 0.65:
                m = bisect.bisect_right(options, (o, 1 << 62))
                if m:
                    _seen, visitor, ident, sh = options[rng.randrange(m)]
                    if ident is not None and ident <= o:
                        stakeholder = sh
        elif kind in PERSON_KINDS and a.stakeholders:
            m = bisect.bisect_right(a.stakeholders, (day, "\uffff"))
            if m:
                stakeholder = self.sh_ids.get((a.id, a.stakeholders[rng.randrange(m)][2]))
        program = None
        options_p = self.program_pick.get((a.tier if a.abm else 0, kind))
        if options_p and rng.random() < 0.75:
            is_customer = a.customer_from is not None and o >= a.customer_from.toordinal()
            live = [
                pid
                for pid, lo, hi, inds, cust_only in options_p
                if lo <= o <= hi
                and (not inds or a.industry in inds)
                and (not cust_only or is_customer)
                and (a.abm or not cust_only)
            ]
            if live:
                program = live[0] if len(live) == 1 else rng.choice(live)
        return (
            a.id, stakeholder, program, visitor, kind, channel, direction, when, url, asset,
            position, _money(minutes), _money(cost), SOURCE, f"demo-t{self._touch_seq:07d}",
        )  # fmt: skip

    # -- stage history --
    def _write_stage_changes(self) -> None:
        """The stage transitions the journey implies (the recompute keeps them up to date).

        Positive steps only move forward in funnel order; churn drops a
        customer to ``none``, leaving the target list drops a mere target.
        """
        rows: list[tuple] = []
        for a in self.accounts:
            events: list[tuple[dt.date, int, str]] = []
            if a.targeted_on:
                events.append((a.targeted_on, 0, Stage.TARGET))
            if a.e0 and a.e0 <= self.end:
                events.append((a.e0, 0, Stage.ENGAGED))
            if a.nb_created:
                events.append((dt.date.fromordinal(a.nb_created[0]), 0, Stage.OPPORTUNITY))
            if a.customer_from:
                events.append((a.customer_from, 0, Stage.CUSTOMER))
            for o in a.opps:
                if o.status == OpportunityStatus.WON and o.closed_on:
                    if o.type == OpportunityType.RENEWAL:
                        events.append((o.closed_on, 0, Stage.RETAINED))
                    elif o.type == OpportunityType.EXPANSION:
                        events.append((o.closed_on, 0, Stage.EXPANDED))
            if a.untargeted_on:
                events.append((a.untargeted_on, 1, "untarget"))
            if a.churned_on:
                events.append((a.churned_on, 2, "churn"))
            events.sort(key=lambda e: (e[0], e[1], STAGE_RANK.get(e[2], 0)))
            current = Stage.TARGET if a.is_target and not a.targeted_on else Stage.NONE
            by_day: dict[dt.date, list[str]] = {}
            for day, _order, what in events:
                before = current
                if what == "churn":
                    current = Stage.NONE
                elif what == "untarget":
                    current = Stage.NONE if current == Stage.TARGET else current
                elif STAGE_RANK[what] > STAGE_RANK[current]:
                    current = what
                if current != before and self.start <= day <= self.end:
                    by_day.setdefault(day, [before, current])[1] = current
            for day, (frm, to) in by_day.items():
                if frm != to:
                    rows.append((a.id, day, frm, to))
        fields = ["account_id", "changed_on", "from_stage", "to_stage"]
        self._step("stage changes", bulk_write(AccountStageChange, fields, rows, now=self.now))


def _cum(values: Iterable[float]) -> Iterator[float]:
    total = 0.0
    for v in values:
        total += v
        yield total


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(file: TextIO | None, total: int):
    if file is None:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit=" touches", unit_scale=True, file=file, mininterval=0.5)


# --- Bulk writing -------------------------------------------------------------


def bulk_write(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Iterable[tuple],
    *,
    now: dt.datetime,
    on_chunk: Callable[[int], Any] | None = None,
) -> int:
    """Insert ``rows`` (tuples in ``fields`` order, attnames) in chunks; returns the row count.

    PostgreSQL: one ``COPY ... FROM STDIN`` streamed from the iterator.
    SQLite: one prepared ``INSERT`` run by ``executemany`` per chunk of
    ``CHUNK`` rows (``bulk_create`` there is held to 999 parameters per
    statement and costs several times the CPU). Other databases:
    ``bulk_create`` in batches of ``CHUNK``. Columns not given get their
    model default; ``created_at`` and ``updated_at`` are set to ``now``.
    """
    if connection.vendor not in ("postgresql", "sqlite"):
        return _bulk_create(model, fields, rows, on_chunk)
    meta = model._meta
    given = [meta.get_field(_field_name(model, f)) for f in fields]
    rest = [
        f
        for f in meta.concrete_fields
        if f.attname not in fields
        and not f.primary_key
        and f.name not in ("created_at", "updated_at")
    ]
    cols = [f.column for f in given] + [f.column for f in rest] + ["created_at", "updated_at"]
    quoted = ", ".join(connection.ops.quote_name(c) for c in cols)
    table = connection.ops.quote_name(meta.db_table)
    tail = (*(f.get_default() for f in rest), now, now)
    # Only these types need Django's conversion; ints, strings and None pass as they are.
    convert = [
        i
        for i, f in enumerate([*given, *rest])
        if isinstance(f, models.DateField | models.DecimalField | models.JSONField)
    ]
    n = 0
    if connection.vendor == "postgresql":
        json_cols = [i for i in convert if isinstance([*given, *rest][i], models.JSONField)]
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy,
        ):
            for row in rows:
                full = [*row, *tail]
                for i in json_cols:
                    full[i] = json.dumps(full[i])
                copy.write_row(full)
                n += 1
                if on_chunk and n % CHUNK == 0:
                    on_chunk(CHUNK)
        if on_chunk and n % CHUNK:
            on_chunk(n % CHUNK)
        return n
    all_fields = [*given, *rest, meta.get_field("created_at"), meta.get_field("updated_at")]
    convert += [len(all_fields) - 2, len(all_fields) - 1]
    placeholders = ", ".join(["%s"] * len(cols))
    # Identifiers come from the model's meta, quoted; values go as parameters.
    sql = f"INSERT INTO {table} ({quoted}) VALUES ({placeholders})"  # noqa: S608
    with connection.cursor() as cursor:
        chunk: list[list] = []
        for row in rows:
            full = [*row, *tail]
            for i in convert:
                full[i] = all_fields[i].get_db_prep_save(full[i], connection)
            chunk.append(full)
            if len(chunk) == CHUNK:
                cursor.executemany(sql, chunk)
                n += len(chunk)
                if on_chunk:
                    on_chunk(len(chunk))
                chunk = []
        if chunk:
            cursor.executemany(sql, chunk)
            n += len(chunk)
            if on_chunk:
                on_chunk(len(chunk))
    return n


def _bulk_create(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Iterable[tuple],
    on_chunk: Callable[[int], Any] | None,
) -> int:
    n = 0
    batch: list[models.Model] = []
    for row in rows:
        batch.append(model(**dict(zip(fields, row, strict=True))))
        if len(batch) == CHUNK:
            model.objects.bulk_create(batch, batch_size=CHUNK)
            n += len(batch)
            if on_chunk:
                on_chunk(len(batch))
            batch = []
    if batch:
        model.objects.bulk_create(batch, batch_size=CHUNK)
        n += len(batch)
        if on_chunk:
            on_chunk(len(batch))
    return n


def _field_name(model: type[models.Model], attname: str) -> str:
    for f in model._meta.concrete_fields:
        if f.attname == attname:
            return f.name
    raise ValueError(f"{model.__name__} has no column {attname!r}")
