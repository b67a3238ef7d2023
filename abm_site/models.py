"""The user model, API tokens, idempotency keys and the abstract base every table uses."""

import hashlib
import secrets
from typing import ClassVar

from django.contrib.auth.models import AbstractUser, Group
from django.db import models
from django.utils import timezone
from rest_framework.utils.encoders import JSONEncoder


class TimeStampedModel(models.Model):
    """Abstract base: every row knows when it was created and last changed."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class User(AbstractUser):
    """A person of the organisation; their role is the group they are in."""

    class Role(models.TextChoices):
        VIEWER = "viewer", "Viewer"
        EDITOR = "editor", "Editor"
        ADMIN = "admin", "Admin"

    ROLE_ORDER: ClassVar[list[str]] = ["viewer", "editor", "admin"]

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    @property
    def role(self) -> str | None:
        """The strongest role the user holds (superusers are admins).

        The groups are read once per user object (a request's user: the access check and
        the page both ask); changing this object's groups forgets them (``forget_role``).
        """
        if self.is_superuser:
            return self.Role.ADMIN
        if "_group_role" not in self.__dict__:
            names = {g.name for g in self.groups.all()}
            found = next((n for n in reversed(self.ROLE_ORDER) if n in names), None)
            self.__dict__["_group_role"] = found
        return self.__dict__["_group_role"]

    def forget_role(self) -> None:
        """Read the groups again at the next ``role`` (after they changed)."""
        self.__dict__.pop("_group_role", None)

    def refresh_from_db(self, *args, **kwargs) -> None:
        self.forget_role()
        super().refresh_from_db(*args, **kwargs)

    @property
    def can_write(self) -> bool:
        return self.role in (self.Role.EDITOR, self.Role.ADMIN)


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def active(self) -> "ApiTokenQuerySet":
        now = timezone.now()
        return self.filter(revoked_at__isnull=True, user__is_active=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(TimeStampedModel):
    """A key an integration uses; only its SHA-256 hash is stored."""

    class Scope(models.TextChoices):
        READ = "read", "Read only"
        WRITE = "write", "Read and write"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for.")
    prefix = models.CharField(max_length=12, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scope = models.CharField(max_length=5, choices=Scope.choices, default=Scope.READ)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, *, user: User, name: str, scope: str = "read", expires_at=None):
        """Create a token and return ``(token, plain_key)``; the key is never stored."""
        key = "abm_" + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user,
            name=name,
            scope=scope,
            expires_at=expires_at,
            prefix=key[:12],
            key_hash=_hash_key(key),
        )
        return token, key

    @classmethod
    def lookup(cls, key: str) -> "ApiToken | None":
        """The active token with this key, its user and the user's groups, in one query.

        Every API request starts here: the groups (the role) come in the same
        statement, one row per group (LEFT JOIN), and are set as the user's
        prefetched groups. Nothing is cached, so a revoked token fails at once.
        """
        rows = list(
            cls.objects.active()
            .filter(key_hash=_hash_key(key))
            .select_related("user")
            .annotate(_group_id=models.F("user__groups__id"), _group=models.F("user__groups__name"))
            .order_by()
        )
        if not rows:
            return None
        token = rows[0]
        groups = token.user.groups.all()  # unevaluated: filled in below, never queried
        groups._result_cache = [Group(pk=r._group_id, name=r._group) for r in rows if r._group_id]
        groups._prefetch_done = True
        token.user._prefetched_objects_cache = {"groups": groups}
        return token


class UserSession(models.Model):
    """One signed-in browser session of a user, recorded at sign-in.

    Lets the app end every session of a user (password change, deactivation,
    "sign out everywhere") with one set-based delete instead of decoding every
    row of the session table.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="web_sessions")
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "created_at"], name="abm_site_usersession_user")]

    def __str__(self) -> str:
        return f"{self.user} since {self.created_at:%Y-%m-%d %H:%M}"


class IdempotencyKey(TimeStampedModel):
    """The answer to an API create sent with an ``Idempotency-Key`` header, kept 24 hours.

    A repeated request of the same user with the same key gets this answer
    again instead of doing the work twice (``abm_site.idempotency``). The row
    is written in the same transaction as the work, so either both are
    stored or neither.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(
        max_length=64, help_text="SHA-256 of the method, path, query and body of the request."
    )
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField(null=True, encoder=JSONEncoder)
    headers = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "key"],
                name="%(app_label)s_%(class)s_user_key_unique",
                violation_error_message="This user already used this Idempotency-Key.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.user_id}): {self.status_code}"
