from django.contrib import admin
from django.db import models

from .models import HighValuePage, IntentSignal, Program, Spend, Touch, Visitor


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    list_display = ["name", "program_type", "budget", "starts_on", "ends_on"]
    list_filter = ["program_type", "target_tiers"]
    search_fields = ["name"]
    filter_horizontal = ["target_tiers"]


@admin.register(Spend)
class SpendAdmin(admin.ModelAdmin):
    list_display = ["spent_on", "program", "amount", "channel", "category"]
    list_filter = ["category", "channel", "program"]
    search_fields = ["program__name", "channel", "external_id"]
    list_select_related = ["program"]
    autocomplete_fields = ["program"]
    date_hierarchy = "spent_on"


@admin.register(Touch)
class TouchAdmin(admin.ModelAdmin):
    list_display = [
        "occurred_at",
        "kind",
        "account",
        "stakeholder",
        "program",
        "channel",
        "direction",
        "quantity",
    ]
    list_filter = ["kind", "direction", "funnel_position", "source"]
    search_fields = ["external_id", "url", "asset"]
    list_select_related = ["account", "stakeholder", "program"]
    raw_id_fields = ["account", "stakeholder", "visitor"]
    autocomplete_fields = ["program"]
    readonly_fields = ["created_at", "updated_at"]
    show_full_result_count = False
    # Django 6 default; a URL typed without a scheme is taken as https.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(Visitor)
class VisitorAdmin(admin.ModelAdmin):
    list_display = ["anonymous_id", "account", "stakeholder", "first_seen_at", "identified_at"]
    search_fields = ["anonymous_id"]
    list_select_related = ["account", "stakeholder"]
    raw_id_fields = ["account", "stakeholder"]
    show_full_result_count = False


@admin.register(IntentSignal)
class IntentSignalAdmin(admin.ModelAdmin):
    list_display = ["week", "account", "topic", "score", "is_competitor_topic", "provider_surge"]
    list_filter = ["is_competitor_topic", "provider_surge", "source"]
    search_fields = ["topic", "account__name"]
    list_select_related = ["account"]
    raw_id_fields = ["account"]
    show_full_result_count = False


@admin.register(HighValuePage)
class HighValuePageAdmin(admin.ModelAdmin):
    list_display = ["label", "url_pattern", "updated_at"]
    search_fields = ["label", "url_pattern"]
