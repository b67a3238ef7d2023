"""The main navigation's values for every page, the account pages included."""

from django.http import HttpRequest

from abm_site import access
from funnel.kpis import STAGE_TITLES

STAGES = range(1, 7)


def navigation(request: HttpRequest) -> dict:
    """Stage links and whether to offer Imports: every template that extends ``base.html``
    shows the same navigation (the account and token pages lost them when only report
    views supplied them)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    rank = access.LEVELS.index(access.user_level(user))  # the user's role: read once
    return {
        "stage_nav": [(n, STAGE_TITLES[n]) for n in STAGES],
        "can_import": rank >= access.LEVELS.index(access.EDITOR),
        "can_edit_weights": rank >= access.LEVELS.index(access.ADMIN),
    }
