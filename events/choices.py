"""The kinds of event the app records (``Event.type``)."""

from django.db import models


class EventType(models.TextChoices):
    """What happened; the value is the ``type`` in the API and in webhook bodies."""

    STAGE_CHANGED = "account.stage_changed", "Account stage change"
    INTENT_SURGE = "account.intent_surge", "Intent surge"
    RESEARCH_SPIKE = "account.research_spike", "Research spike (grade 2 or 3)"
    CUSTOMER_AT_RISK = "account.customer_at_risk", "Customer at risk"
    IMPORT_FINISHED = "import.finished", "Import finished"
    RECOMPUTE_FINISHED = "recompute.finished", "Recompute finished"
    RECOMPUTE_FAILED = "recompute.failed", "Recompute failed"
    WEBHOOK_DISABLED = "webhook.disabled", "Webhook disabled after failures"


#: Events about one account (they carry ``account`` and can be filtered by tier and owner).
ACCOUNT_EVENTS = frozenset(
    {
        EventType.STAGE_CHANGED,
        EventType.INTENT_SURGE,
        EventType.RESEARCH_SPIKE,
        EventType.CUSTOMER_AT_RISK,
    }
)
