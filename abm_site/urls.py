"""Top-level URL wiring. Who may use each route: ``abm_site/access.py``."""

from csp.decorators import csp_update
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import account_views, views

#: Swagger UI (bundled locally by drf-spectacular-sidecar) styles a few elements inline.
_SWAGGER_CSP = {"style-src": ["'unsafe-inline'"]}

handler500 = "abm_site.security.server_error"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Password reset by e-mail (EMAIL_URL); Django's views, our templates.
    path(
        "password-reset/",
        auth_views.PasswordResetView.as_view(
            extra_context={"timeout_days": settings.PASSWORD_RESET_TIMEOUT // 86400}
        ),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password-reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("account/security/", account_views.account_security, name="account_security"),
    path("account/verify/", account_views.otp_verify, name="otp_verify"),
    path("account/password/", account_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "account/password/done/",
        account_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("account/tokens/", account_views.token_list, name="account_tokens"),
    path(
        "account/tokens/<int:pk>/revoke/",
        account_views.token_revoke,
        name="account_token_revoke",
    ),
    path("admin/login/", account_views.admin_login, name="admin_login"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("abm_site.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        csp_update(_SWAGGER_CSP)(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path("", include("reports.urls")),
]
