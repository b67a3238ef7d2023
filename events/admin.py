"""Events in the admin: read only (they are written by the paths that cause them)."""

from django.contrib import admin

from .models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "occurred_at", "account", "key"]
    list_filter = ["type"]
    search_fields = ["key"]
    date_hierarchy = "occurred_at"
    raw_id_fields = ["account"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
