"""Scheduled e-mail reports in the admin."""

from django.contrib import admin

from .models import ReportSchedule


@admin.register(ReportSchedule)
class ReportScheduleAdmin(admin.ModelAdmin):
    list_display = ["name", "frequency", "send_at", "stage", "query", "active", "next_run_at"]
    list_filter = ["frequency", "active"]
    search_fields = ["name", "recipients"]
    readonly_fields = ["last_sent_at"]
    raw_id_fields = ["created_by"]
