from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import Http404
from django.utils import timezone
from django_otp.plugins.otp_totp import admin as otp_totp_admin
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import ApiToken, User, UserSession
from .signals import sessions_end, tokens_revoke


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = [
        "username",
        "email",
        "first_name",
        "last_name",
        "roles",
        "is_active",
        "last_login",
    ]
    list_filter = ["is_active", "is_staff", "groups"]
    actions = ["deactivate"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="Roles")
    def roles(self, obj: User) -> str:
        return ", ".join(g.name for g in obj.groups.all()) or (
            "superuser" if obj.is_superuser else "—"
        )

    @admin.action(description="Deactivate selected users (ends their sessions, revokes tokens)")
    def deactivate(self, request, queryset):
        ids = list(queryset.exclude(pk=request.user.pk).values_list("pk", flat=True))
        queryset.filter(pk__in=ids).update(is_active=False)
        ended, revoked = sessions_end(ids), tokens_revoke(ids)
        self.message_user(
            request,
            f"Deactivated {len(ids)} user(s): ended {ended} session(s), revoked {revoked} token(s).",
        )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "user",
        "prefix",
        "scope",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "created_at",
    ]
    list_filter = ["scope", "revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    autocomplete_fields = ["user"]
    readonly_fields = ["prefix", "last_used_at", "created_at"]
    fields = [
        "user",
        "name",
        "scope",
        "expires_at",
        "revoked_at",
        "prefix",
        "last_used_at",
        "created_at",
    ]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        # A key belongs to the user it was issued to; it never moves to another user.
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "user"] if obj is not None else fields

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        token, key = ApiToken.issue(
            user=obj.user, name=obj.name, scope=obj.scope, expires_at=obj.expires_at
        )
        obj.pk = token.pk
        obj.prefix = token.prefix
        obj.key_hash = token.key_hash
        obj.created_at = token.created_at
        messages.warning(
            request, f"The key of token “{obj.name}” is {key} — copy it now; it is not shown again."
        )

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        n = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {n} token(s).")


@admin.register(UserSession)
class UserSessionAdmin(admin.ModelAdmin):
    """Signed-in sessions, to look at; the user actions and pages end them."""

    list_display = ["user", "created_at", "ip_address", "user_agent"]
    list_select_related = ["user"]
    search_fields = ["user__username", "ip_address"]
    readonly_fields = ["user", "session_key", "created_at", "ip_address", "user_agent"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


#: Admin fields and columns that would show a TOTP device's secret (or its QR code).
_TOTP_SECRET_FIELDS = {"key", "qrcode_link"}


class TOTPDeviceAdmin(otp_totp_admin.TOTPDeviceAdmin):
    """Authenticator apps of users, without their secrets.

    Admins see, rename, confirm and delete devices but never read a key: not
    in the list, the change or add form (a new device gets a random key), nor
    through django-otp's configuration and QR-code pages, which answer 404
    (for a device that does not exist, too, rather than a 500).
    """

    def get_list_display(self, request):
        return [f for f in super().get_list_display(request) if f not in _TOTP_SECRET_FIELDS]

    def get_fieldsets(self, request, obj=None):
        return [
            (name, {**options, "fields": _without_secrets(options["fields"])})
            for name, options in super().get_fieldsets(request, obj)
            if _without_secrets(options["fields"])
        ]

    def config_view(self, request, pk):
        raise Http404("TOTP secrets (keys, QR codes) are not shown in the admin.")

    qrcode_view = config_view


def _without_secrets(fields) -> list[str]:
    return [f for f in fields if f not in _TOTP_SECRET_FIELDS]


# django-otp registers its own admin when its module is imported (above): replace it.
admin.site.unregister(TOTPDevice)
admin.site.register(TOTPDevice, TOTPDeviceAdmin)
