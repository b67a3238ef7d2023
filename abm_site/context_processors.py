from django.conf import settings


def site(request) -> dict:
    """Values every template may show."""
    return {"ABM_CURRENCY": settings.ABM_CURRENCY}
