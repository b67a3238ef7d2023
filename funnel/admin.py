from django.contrib import admin

from .models import (
    AccountSnapshot,
    AccountStageChange,
    FunnelSnapshot,
    NpsResponse,
    Opportunity,
    RecomputeChunk,
    RecomputeRun,
)


@admin.register(Opportunity)
class OpportunityAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "account",
        "type",
        "status",
        "crm_stage",
        "amount",
        "created_on",
        "closed_on",
        "term_months",
    ]
    list_filter = ["type", "status", "source"]
    search_fields = ["name", "account__name", "external_id", "crm_stage"]
    list_select_related = ["account"]
    raw_id_fields = ["account"]
    date_hierarchy = "closed_on"
    readonly_fields = ["created_at", "updated_at"]
    show_full_result_count = False


@admin.register(NpsResponse)
class NpsResponseAdmin(admin.ModelAdmin):
    list_display = ["responded_on", "account", "stakeholder", "score"]
    list_filter = ["score"]
    search_fields = ["account__name"]
    list_select_related = ["account", "stakeholder"]
    raw_id_fields = ["account", "stakeholder"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Computed rows: shown, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AccountStageChange)
class AccountStageChangeAdmin(ReadOnlyAdmin):
    list_display = ["changed_on", "account", "from_stage", "to_stage"]
    list_filter = ["to_stage", "from_stage"]
    search_fields = ["account__name"]
    list_select_related = ["account"]
    raw_id_fields = ["account"]
    show_full_result_count = False


@admin.register(AccountSnapshot)
class AccountSnapshotAdmin(ReadOnlyAdmin):
    list_display = [
        "date",
        "account",
        "stage",
        "engagement_score",
        "relationship_score",
        "research_grade",
        "intent_surge",
        "open_pipeline",
    ]
    list_filter = ["stage", "intent_surge", "research_grade"]
    search_fields = ["account__name"]
    list_select_related = ["account"]
    raw_id_fields = ["account"]
    date_hierarchy = "date"
    show_full_result_count = False


@admin.register(FunnelSnapshot)
class FunnelSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["date", "window_days", "slice", "updated_at"]
    list_filter = ["window_days"]
    search_fields = ["slice"]
    date_hierarchy = "date"


class RecomputeChunkInline(admin.TabularInline):
    model = RecomputeChunk
    fields = ["first_id", "last_id", "accounts", "done_at"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False


@admin.register(RecomputeRun)
class RecomputeRunAdmin(ReadOnlyAdmin):
    list_display = ["date", "kind", "status", "started_at", "finished_at", "accounts"]
    list_filter = ["status", "kind"]
    date_hierarchy = "date"
    inlines = [RecomputeChunkInline]


@admin.register(RecomputeChunk)
class RecomputeChunkAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "run", "first_id", "last_id", "accounts", "done_at"]
    list_filter = ["run__kind", "run__status"]
    list_select_related = ["run"]
    show_full_result_count = False
