from django.urls import path

from . import account_pages, alerts, imports, lists, schedules, views, weights

app_name = "reports"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("stages/<int:stage>/", views.stage_detail, name="stage_detail"),
    path("kpis/<str:kpi_id>/", views.kpi_detail, name="kpi_detail"),
    path("kpis/<str:kpi_id>/accounts/", views.kpi_drilldown, name="kpi_drilldown"),
    path(
        "kpis/<str:kpi_id>/<str:part>/accounts/",
        views.kpi_drilldown,
        name="kpi_part_drilldown",
    ),
    path("accounts/", account_pages.account_list, name="account_list"),
    path("accounts/<int:pk>/", account_pages.account_detail, name="account_detail"),
    path("programs/", views.program_list, name="program_list"),
    path("programs/<int:pk>/credits/", views.program_credits, name="program_credits"),
    path("programs/none/credits/", views.program_credits, name="no_program_credits"),
    path("cohorts/", views.cohort_list, name="cohort_list"),
    path("lists/", lists.list_index, name="list_index"),
    path("lists/compare/", lists.list_compare, name="list_compare"),
    path("lists/<int:pk>/", lists.list_detail, name="list_detail"),
    path("lists/<int:pk>/lift/", lists.list_lift, name="list_lift"),
    path("imports/", imports.import_upload, name="import_upload"),
    path("imports/rejected.csv", imports.import_rejected_csv, name="import_rejected_csv"),
    path("status/", views.status, name="status"),
    path("events/", views.event_page, name="event_list"),
    path("alerts/", alerts.alert_list, name="alert_list"),
    path("schedules/", schedules.schedule_list, name="schedule_list"),
    path("snapshots/", views.snapshot_list, name="snapshot_list"),
    path("weights/", weights.weights_edit, name="weights_edit"),
]
