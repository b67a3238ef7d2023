"""One router for every app's viewsets, mounted at /api/v1/."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from accounts.api import views as accounts_api
from activation.api import views as activation_api
from engagement.api import views as engagement_api
from events.api import views as events_api
from funnel.api import views as funnel_api
from ingest.api import views as ingest_api
from reports.api import views as reports_api
from reports.api import weights as reports_weights_api

router = DefaultRouter()
router.register("accounts", accounts_api.AccountViewSet, basename="account")
router.register("tiers", accounts_api.TierViewSet, basename="tier")
router.register("lists", accounts_api.AccountListViewSet, basename="accountlist")
router.register("stakeholders", accounts_api.StakeholderViewSet, basename="stakeholder")
router.register("programs", engagement_api.ProgramViewSet, basename="program")
router.register("spend", engagement_api.SpendViewSet, basename="spend")
router.register("touches", engagement_api.TouchViewSet, basename="touch")
router.register("visitors", engagement_api.VisitorViewSet, basename="visitor")
router.register("intent-signals", engagement_api.IntentSignalViewSet, basename="intentsignal")
router.register("opportunities", funnel_api.OpportunityViewSet, basename="opportunity")
router.register("nps-responses", funnel_api.NpsResponseViewSet, basename="npsresponse")
router.register("stage-changes", funnel_api.AccountStageChangeViewSet, basename="stagechange")
router.register("account-snapshots", funnel_api.AccountSnapshotViewSet, basename="accountsnapshot")
router.register("funnel-snapshots", funnel_api.FunnelSnapshotViewSet, basename="funnelsnapshot")
router.register("events", events_api.EventViewSet, basename="event")
router.register(
    "webhook-subscriptions",
    activation_api.WebhookSubscriptionViewSet,
    basename="webhooksubscription",
)
router.register(
    "webhook-deliveries", activation_api.WebhookDeliveryViewSet, basename="webhookdelivery"
)
router.register("kpis", reports_api.KpiViewSet, basename="kpi")

urlpatterns = [
    path(
        "accounts/<int:pk>/timeline/",
        reports_api.AccountTimelineView.as_view(),
        name="account-timeline",
    ),
    # Before the router's lists/<pk>/, which would take "compare" for an id.
    path("lists/compare/", reports_api.ListScorecardView.as_view(), name="list-compare"),
    path("lists/<int:pk>/lift/", reports_api.ListLiftView.as_view(), name="list-lift"),
    path("weights/", reports_weights_api.WeightsView.as_view(), name="weights"),
    path(
        "weights/preview/", reports_weights_api.WeightsPreviewView.as_view(), name="weights-preview"
    ),
    path(
        "accounts/<int:pk>/scores/",
        reports_api.AccountScoresView.as_view(),
        name="account-scores",
    ),
    path("imports/", ingest_api.ImportView.as_view(), name="import-create"),
    path("attribution/", reports_api.AttributionView.as_view(), name="attribution"),
    path(
        "opportunities/<int:pk>/attribution/",
        reports_api.OpportunityAttributionView.as_view(),
        name="opportunity-attribution",
    ),
    *router.urls,
]
