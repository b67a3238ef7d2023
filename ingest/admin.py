from django.contrib import admin

from .models import ExchangeRate, SavedMapping


@admin.register(ExchangeRate)
class ExchangeRateAdmin(admin.ModelAdmin):
    list_display = ["currency", "rate", "updated_at"]
    search_fields = ["currency"]


@admin.register(SavedMapping)
class SavedMappingAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "label", "created_by", "updated_at"]
    list_filter = ["kind"]
    search_fields = ["name", "label"]
    readonly_fields = ["created_at", "updated_at"]
