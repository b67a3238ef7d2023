"""Role permissions for the API, read from the access matrix (``abm_site.access``).

Viewers read, editors and admins write (``api/v1/*``); a read-only token never
writes, whatever its user's role.
"""

from django.urls import Resolver404, resolve
from rest_framework.permissions import SAFE_METHODS, BasePermission

from . import access
from .models import ApiToken


def user_role(user) -> str | None:
    """The user's role, read once per request from prefetched groups."""
    if not user or not user.is_authenticated:
        return None
    return user.role


def request_rule(request) -> access.Rule | None:
    """The access rule of the route a request came through.

    A request built without the URLconf (a view called directly in a test)
    is resolved from its path, and falls back to the API's default rule.
    """
    match = getattr(request, "resolver_match", None)
    if match is None:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return access.DEFAULT_API_RULE
    return access.rule_for(match.route)


class RolePermission(BasePermission):
    """Every API view: the access matrix's level for the method, and the token's scope."""

    message = "Your role does not allow this: viewers may only read."

    def has_permission(self, request, view) -> bool:
        rule = request_rule(request)
        if rule is None:
            self.message = "This endpoint is not in the access table (abm_site/access.py)."
            return False
        level = rule.level_for(request.method)
        if level is None:
            self.message = "This endpoint is read-only."
            return False
        if level == access.ANONYMOUS:
            return True
        if not request.user or not request.user.is_authenticated:
            return False
        if (
            request.method not in SAFE_METHODS
            and isinstance(request.auth, ApiToken)
            and request.auth.scope != ApiToken.Scope.WRITE
        ):
            self.message = "This token is read-only; use a read-write token to change data."
            return False
        if not access.allows(level, request.user):
            role = user_role(request.user) or "no role"
            action = "read" if request.method in SAFE_METHODS else "change"
            self.message = f"Your role ({role}) does not allow this: to {action} it needs {level}."
            return False
        return True
