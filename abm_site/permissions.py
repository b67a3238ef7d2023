"""Role permissions: viewers read, editors and admins write; token scope caps writes."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from .models import ApiToken


def user_role(user) -> str | None:
    """The user's role, read once per request from prefetched groups."""
    if not user or not user.is_authenticated:
        return None
    return user.role


class RolePermission(BasePermission):
    """Every API view: a role is required to read, editor or admin to write."""

    message = "Your role does not allow this: viewers may only read."

    def has_permission(self, request, view) -> bool:
        role = user_role(request.user)
        if role is None:
            return False
        if request.method in SAFE_METHODS:
            return True
        if isinstance(request.auth, ApiToken) and request.auth.scope != ApiToken.Scope.WRITE:
            self.message = "This token is read-only; use a read-write token to change data."
            return False
        return role in ("editor", "admin")
