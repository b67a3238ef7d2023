"""Touch kinds and the other enumerations of engagement.

The kind list lives here and only here; ``ENGAGEMENT_KINDS`` is the
"is engagement" flag of KPIS.md (the account interacted, not merely was
shown something).
"""

from django.db import models


class TouchKind(models.TextChoices):
    AD_IMPRESSION = "ad_impression", "Ad impression"
    AD_CLICK = "ad_click", "Ad click"
    WEB_VISIT = "web_visit", "Web visit"
    HIGH_VALUE_PAGE_VISIT = "high_value_page_visit", "High-value page visit"
    CHAT_CONVERSATION = "chat_conversation", "Chat conversation"
    EMAIL_SENT = "email_sent", "Email sent"
    EMAIL_OPEN = "email_open", "Email open"
    EMAIL_CLICK = "email_click", "Email click"
    EMAIL_REPLY = "email_reply", "Email reply"
    FORM_FILL = "form_fill", "Form fill"
    CONTENT_DOWNLOAD = "content_download", "Content download"
    MEETING = "meeting", "Meeting"
    CALL_CONNECTED = "call_connected", "Call connected"
    EVENT_ATTENDED = "event_attended", "Event attended"
    SOCIAL_INTERACTION = "social_interaction", "Social interaction"
    REFERRAL = "referral", "Referral"
    DIRECT_MAIL_SENT = "direct_mail_sent", "Direct mail sent"
    INTENT_SIGNAL = "intent_signal", "Intent signal"


#: Kind → counts as engagement. Every kind appears exactly once.
IS_ENGAGEMENT: dict[str, bool] = {
    TouchKind.AD_IMPRESSION: False,
    TouchKind.AD_CLICK: True,
    TouchKind.WEB_VISIT: True,
    TouchKind.HIGH_VALUE_PAGE_VISIT: True,
    TouchKind.CHAT_CONVERSATION: True,
    TouchKind.EMAIL_SENT: False,
    TouchKind.EMAIL_OPEN: True,
    TouchKind.EMAIL_CLICK: True,
    TouchKind.EMAIL_REPLY: True,
    TouchKind.FORM_FILL: True,
    TouchKind.CONTENT_DOWNLOAD: True,
    TouchKind.MEETING: True,
    TouchKind.CALL_CONNECTED: True,
    TouchKind.EVENT_ATTENDED: True,
    TouchKind.SOCIAL_INTERACTION: True,
    TouchKind.REFERRAL: True,
    TouchKind.DIRECT_MAIL_SENT: False,
    TouchKind.INTENT_SIGNAL: False,
}
ENGAGEMENT_KINDS: tuple[str, ...] = tuple(k for k, v in IS_ENGAGEMENT.items() if v)
#: Page views of an identified account; a high-value page visit is also a web visit.
WEB_VISIT_KINDS: tuple[str, ...] = (TouchKind.WEB_VISIT, TouchKind.HIGH_VALUE_PAGE_VISIT)


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"


class FunnelPosition(models.TextChoices):
    TOFU = "tofu", "Top of funnel"
    MOFU = "mofu", "Middle of funnel"
    BOFU = "bofu", "Bottom of funnel"


class SpendCategory(models.TextChoices):
    MARKETING = "marketing", "Marketing"
    SALES = "sales", "Sales"
    ONBOARDING = "onboarding", "Onboarding"
    SUPPORT = "support", "Support"


#: Spend that counts toward acquisition (CAC); onboarding and support are added for the full CAC.
ACQUISITION_CATEGORIES: tuple[str, ...] = (SpendCategory.MARKETING, SpendCategory.SALES)
