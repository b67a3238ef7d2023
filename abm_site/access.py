"""The access matrix: who may read and who may write each URL route.

One table, ``ACCESS``, enforced in two places and checked by one test:

* pages and the Django admin: ``abm_site.security.AccessMiddleware``;
* the API (``api/...``, where tokens authenticate inside DRF):
  ``abm_site.permissions.RolePermission``;
* ``tests/security/test_access_matrix.py`` walks every registered URL pattern,
  fails on a route missing here, and checks each route as anonymous, viewer,
  editor and admin users and with read-only and read-write tokens.

A route is named by its pattern with the converters dropped, for example
``accounts/<pk>/`` or ``api/v1/accounts/<pk>/`` (see ``route_key``). Rules are
shell-style globs (``*`` also crosses ``/``); the first rule that matches wins,
so put narrow rules before broad ones. "Read" means GET, HEAD and OPTIONS;
every other method is a write. ``write=None`` means the route takes no writes.

To add a route: add a rule (or make sure a prefix rule covers it) and run
``pytest tests/security/test_access_matrix.py``.
"""

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

ANONYMOUS = "anonymous"
SIGNED_IN = "signed_in"  # any signed-in user, with or without a role
VIEWER = "viewer"
EDITOR = "editor"
ADMIN = "admin"
LEVELS = (ANONYMOUS, SIGNED_IN, VIEWER, EDITOR, ADMIN)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Rule:
    """Who may read (``read``) and write (``write``) the routes ``pattern`` matches."""

    pattern: str
    read: str
    write: str | None
    #: False for the routes a user must reach before passing the second factor.
    second_factor: bool = True
    note: str = ""

    @property
    def is_api(self) -> bool:
        """API routes: DRF authenticates (session or token) and enforces the rule."""
        return self.pattern.startswith("api/")

    def level_for(self, method: str) -> str | None:
        """The level ``method`` needs on this route, or None when it takes no writes."""
        return self.read if method.upper() in READ_METHODS else self.write


ACCESS: tuple[Rule, ...] = (
    # Reachable without signing in.
    Rule("healthz", ANONYMOUS, None, second_factor=False, note="load balancer health check"),
    Rule("login/", ANONYMOUS, ANONYMOUS, second_factor=False, note="the sign-in page"),
    Rule("admin/login/", ANONYMOUS, None, second_factor=False, note="redirects to login/"),
    Rule("password-reset/*", ANONYMOUS, ANONYMOUS, second_factor=False, note="reset by e-mail"),
    # Any signed-in user, before a role and before the second factor.
    Rule("logout/", SIGNED_IN, SIGNED_IN, second_factor=False),
    # A user's own account pages (a user without a role has nothing to do here).
    Rule("account/security/", VIEWER, VIEWER, second_factor=False, note="enrol TOTP"),
    Rule("account/verify/", VIEWER, VIEWER, second_factor=False, note="enter TOTP"),
    Rule("account/*", VIEWER, VIEWER, note="password change, own API tokens"),
    # The Django admin: users, tokens, settings.
    Rule("admin/*", ADMIN, ADMIN),
    # The REST API and its documentation.
    Rule("api/schema/*", VIEWER, None),
    Rule("api/docs/*", VIEWER, None),
    Rule("api/v1/webhook-*", ADMIN, ADMIN, note="webhook targets and secrets: admins only"),
    Rule("api/v1/weights/*", VIEWER, ADMIN, note="score weights: read; previewed, saved by admins"),
    Rule("api/v1/*", VIEWER, EDITOR, note="read-only tokens never write"),
    # Pages.
    Rule("", VIEWER, None, note="dashboard"),
    Rule("accounts/*", VIEWER, EDITOR),
    # --- report pages (issue 6) ---
    Rule("stages/*", VIEWER, None, note="KPIs of one funnel stage"),
    Rule("kpis/*", VIEWER, None, note="drill-down lists behind count KPIs"),
    Rule("programs/*", VIEWER, None),
    Rule("cohorts/*", VIEWER, None),
    Rule("lists/*", VIEWER, None, note="account lists and their members"),
    Rule("status/*", VIEWER, None, note="recompute runs, data counts, health"),
    Rule("snapshots/*", VIEWER, None, note="published funnel snapshots and their revisions"),
    Rule("events/*", VIEWER, None, note="events: stage changes, surges, imports, recomputes"),
    Rule("alerts/*", VIEWER, VIEWER, note="a user's own e-mail alerts"),
    Rule("schedules/*", VIEWER, VIEWER, note="a user's own scheduled e-mail reports"),
    Rule("imports/*", EDITOR, EDITOR, note="CSV upload page; viewers get 403"),
    Rule("weights/*", ADMIN, ADMIN, note="score weights: previewed, saved as a new version"),
)

#: What the API enforces for a request that did not come through the URLconf.
DEFAULT_API_RULE = Rule("api/v1/*", VIEWER, EDITOR)

_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>")
_CONVERTER = re.compile(r"<(?:\w+:)?(?P<name>\w+)>")


def _drop_regex_groups(route: str) -> str:
    """Replace each ``(?P<name>...)`` (with nested parentheses) by ``<name>``."""
    out = []
    i = 0
    while i < len(route):
        m = _GROUP.match(route, i)
        if not m:
            out.append(route[i])
            i += 1
            continue
        depth, j = 1, m.end()
        while j < len(route) and depth:
            if route[j] == "\\":
                j += 2
                continue
            depth += {"(": 1, ")": -1}.get(route[j], 0)
            j += 1
        out.append(f"<{m.group('name')}>")
        i = j
    return "".join(out)


def route_key(route: str) -> str:
    """The name of a route: its pattern without converters or regex syntax.

    ``accounts/<int:pk>/`` -> ``accounts/<pk>/``;
    ``api/v1/^accounts/(?P<pk>[^/.]+)/$`` -> ``api/v1/accounts/<pk>/``;
    ``api/v1/accounts\\.(?P<format>[a-z0-9]+)/?$`` -> ``api/v1/accounts.<format>/``.
    """
    key = _drop_regex_groups(route.replace("^", ""))
    key = key.replace("/?", "/").replace("$", "").replace("\\", "")
    return _CONVERTER.sub(lambda m: f"<{m.group('name')}>", key)


def rule_for(route: str) -> Rule | None:
    """The first rule whose pattern matches ``route`` (raw or normalised), or None."""
    key = route_key(route)
    for rule in ACCESS:
        if fnmatchcase(key, rule.pattern):
            return rule
    return None


def user_level(user) -> str:
    """The strongest level a user holds (a role, or just signed in, or anonymous)."""
    if user is None or not user.is_authenticated:
        return ANONYMOUS
    return user.role or SIGNED_IN


def allows(level: str, user) -> bool:
    """Whether ``user`` holds at least ``level``."""
    return LEVELS.index(user_level(user)) >= LEVELS.index(level)
