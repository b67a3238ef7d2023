"""The demo's fixed vocabulary: names, firmographics, reps, pages, content, programs, kind mixes.

Plain data so the planner and the writers read the same words and weights;
changing any value here changes the generated rows (on purpose).
"""

from __future__ import annotations

from typing import Any

from accounts.choices import BuyingRole, ProgramType
from engagement.choices import Direction, FunnelPosition, SpendCategory
from engagement.choices import TouchKind as K

#: ``source`` of every seeded row, so imports from real systems never collide with it.
SOURCE = "demo"
#: E-mail domain of the seeded sales reps; ``demo_tables_wipe`` deletes only these users.
DEMO_USER_DOMAIN = "reps.demo.example"
SITE = "https://www.funnelwise.example"
#: ``seed_demo``'s default sizes; spend scales with ``accounts / DEFAULT_ACCOUNTS``.
DEFAULT_ACCOUNTS = 2000
DEFAULT_TOUCHES = 300_000
DEFAULT_SEED = 42
DEFAULT_MONTHS = 18

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


def rep_username(first: str, last: str) -> str:
    """A seeded rep's username: the planner picks owners by it before the users exist."""
    return f"{first}.{last.lower()}"
