"""Session and token bookkeeping on sign-in, sign-out, password change and deactivation.

Sign-in records the session in ``UserSession`` so that a password change,
deactivating a user or "sign out everywhere" can end every session of the
user with one set-based delete; the same events revoke the user's API tokens.
Connected in ``AbmSiteConfig.ready()``.
"""

import logging
import time
from collections.abc import Iterable
from importlib import import_module

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.contrib.sessions.models import Session
from django.db.models.signals import m2m_changed, post_save
from django.dispatch import receiver
from django.utils import timezone

from .models import ApiToken, User, UserSession

logger = logging.getLogger("abm_site.security")

DB_SESSION_ENGINES = ("django.contrib.sessions.backends.db",)


def sessions_end(user_ids: Iterable[int], *, keep: str | None = None) -> int:
    """End every recorded session of the users, except the session key ``keep``.

    Returns the number of sessions ended.
    """
    recorded = UserSession.objects.filter(user_id__in=list(user_ids))
    if keep:
        recorded = recorded.exclude(session_key=keep)
    keys = list(recorded.values_list("session_key", flat=True))
    if not keys:
        return 0
    if settings.SESSION_ENGINE in DB_SESSION_ENGINES:
        Session.objects.filter(session_key__in=keys).delete()
    else:  # cache-backed sessions have no table to delete from
        store = import_module(settings.SESSION_ENGINE).SessionStore
        for key in keys:
            store(key).delete(key)
    UserSession.objects.filter(session_key__in=keys).delete()
    return len(keys)


def tokens_revoke(user_ids: Iterable[int]) -> int:
    """Revoke every live API token of the users; returns how many were revoked."""
    return ApiToken.objects.filter(user_id__in=list(user_ids), revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def session_record(request, user: User) -> None:
    """Remember that this session belongs to ``user`` (after sign-in or a key change)."""
    key = request.session.session_key
    if not key:
        request.session.save()
        key = request.session.session_key
    from .security import client_ip

    UserSession.objects.update_or_create(
        session_key=key,
        defaults={
            "user": user,
            "ip_address": client_ip(request),
            "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300],
        },
    )


@receiver(user_logged_in, dispatch_uid="abm_site_session_signed_in")
def _signed_in(sender, request, user, **kwargs) -> None:
    if request is None or not hasattr(request, "session"):
        return
    from django_otp import user_has_device

    from .security import EXPIRED, LOGIN_AT, OTP_ENROLLED, SEEN_AT

    now = int(time.time())
    request.session[LOGIN_AT] = now
    request.session[SEEN_AT] = now
    request.session[OTP_ENROLLED] = user_has_device(user)
    request.session.pop(EXPIRED, None)
    session_record(request, user)


@receiver(user_logged_out, dispatch_uid="abm_site_session_signed_out")
def _signed_out(sender, request, user, **kwargs) -> None:
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        UserSession.objects.filter(session_key=key).delete()


@receiver(post_save, sender=User, dispatch_uid="abm_site_user_saved")
def _user_saved(sender, instance: User, created: bool, **kwargs) -> None:
    """A new password or a deactivation ends the user's sessions and revokes their tokens.

    ``_password`` holds the raw password between ``set_password()`` and the
    save, so a hash upgrade at sign-in (which clears it first) does not count.
    """
    if created:
        return
    password_changed = getattr(instance, "_password", None) is not None
    if not password_changed and instance.is_active:
        return
    ended = sessions_end([instance.pk])
    revoked = tokens_revoke([instance.pk])
    if ended or revoked:
        logger.info(
            "User %s %s: ended %d session(s), revoked %d API token(s)",
            instance.pk,
            "changed password" if password_changed else "is inactive",
            ended,
            revoked,
        )


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="abm_site_forget_role")
def forget_role(sender, instance, reverse: bool, action: str, **kwargs) -> None:
    """A user object whose groups changed reads its role again (``User.role`` keeps it)."""
    if not reverse and action.startswith("post_"):
        instance.forget_role()
