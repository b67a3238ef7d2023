"""One router for every app's viewsets, mounted at /api/v1/."""

from rest_framework.routers import DefaultRouter

from accounts.api import views as accounts_api

router = DefaultRouter()
router.register("accounts", accounts_api.AccountViewSet, basename="account")
router.register("tiers", accounts_api.TierViewSet, basename="tier")
router.register("stakeholders", accounts_api.StakeholderViewSet, basename="stakeholder")

urlpatterns = router.urls
