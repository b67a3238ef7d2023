"""Every URL route is in the access matrix, and behaves as the matrix says.

Walks every registered pattern (through includes: the admin, the DRF router,
the apps), then requests each route as anonymous, no-role, viewer, editor and
admin users and with an editor's read-only and read-write tokens: GET for
reading, POST (PATCH on API detail routes) for writing.
"""

import inspect

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from abm_site import access
from abm_site.models import ApiToken, User, UserSession
from accounts.models import Account, AccountList
from engagement.models import Program
from funnel.kpis import REGISTRY
from tests import factories

#: Models behind ``<pk>`` in page routes (the API and admin name theirs).
PAGE_MODELS: dict[str, type[models.Model]] = {
    "accounts/<pk>/": Account,
    "lists/<pk>/": AccountList,
    "lists/<pk>/lift/": AccountList,
    "api/v1/lists/<pk>/lift/": AccountList,
    "programs/<pk>/credits/": Program,
    "account/tokens/<pk>/revoke/": ApiToken,
    "admin/r/<content_type_id>/<object_id>/": Account,
}
#: Routes that sign out: after a POST they send the user to the sign-in page.
SIGN_OUT = {"logout/", "admin/logout/"}
#: Routes that answer 404 even to those allowed, and why.
NOT_FOUND_OK = {
    "admin/<url>": "the admin's catch-all for unknown addresses",
    "admin/r/<content_type_id>/<object_id>/": "accounts have no page on the site to link to",
    "imports/rejected.csv": "the rejected rows of this session's last import: none yet",
    "api/v1/lists/<pk>/lift/": "a list without a holdout has no lift (the page says how to draw one)",
    "api/v1/lists/<pk>/holdout/": "a list without a holdout: POST here draws one",
    "api/v1/lists/<pk>/holdout.<format>/": "a list without a holdout: POST here draws one",
    "admin/otp_totp/totpdevice/<pk>/config/": "TOTP secrets are never shown in the admin",
    "admin/otp_totp/totpdevice/<pk>/qrcode/": "TOTP secrets are never shown in the admin",
}
QUERY = {"admin/autocomplete/": "app_label=abm_site&model_name=apitoken&field_name=user"}
ACTORS = ("anonymous", "no_role", "viewer", "editor", "admin", "read_token", "write_token")


def walk(patterns, prefix: str = ""):
    """(route, pattern) for every leaf pattern, routes joined through includes."""
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from walk(p.url_patterns, prefix + str(p.pattern))
        else:
            assert isinstance(p, URLPattern)
            yield prefix + str(p.pattern), p


ROUTES = sorted({access.route_key(r): p for r, p in walk(get_resolver().url_patterns)}.items())


def test_every_route_is_in_the_access_matrix():
    missing = [key for key, _ in ROUTES if access.rule_for(key) is None]
    assert not missing, f"add these routes to abm_site/access.py ACCESS: {missing}"


def test_route_keys_match_what_the_resolver_reports():
    assert access.route_key(r"api/v1/^accounts/(?P<pk>[^/.]+)/$") == "api/v1/accounts/<pk>/"
    assert access.route_key("accounts/<int:pk>/") == "accounts/<pk>/"
    assert access.route_key(r"admin/^(?P<app_label>auth|accounts)/$") == "admin/<app_label>/"
    assert access.route_key(r"api/v1/^accounts\.(?P<format>[a-z0-9]+)/?$") == (
        "api/v1/accounts.<format>/"
    )


def test_matrix_rules_for_known_routes():
    assert access.rule_for("healthz").read == access.ANONYMOUS
    assert access.rule_for("login/").read == access.ANONYMOUS
    api = access.rule_for(r"api/v1/^accounts/(?P<pk>[^/.]+)/$")
    assert (api.read, api.write) == (access.VIEWER, access.EDITOR)
    assert access.rule_for("admin/accounts/account/").read == access.ADMIN
    assert access.rule_for("no-such-area/") is None
    anonymous = [r.pattern for r in access.ACCESS if r.read == access.ANONYMOUS]
    assert anonymous == ["healthz", "login/", "admin/login/", "password-reset/*"]


def _model_of(key: str, pattern: URLPattern) -> type[models.Model] | None:
    cls = getattr(pattern.callback, "cls", None)
    if cls is not None and getattr(cls, "queryset", None) is not None:
        return cls.queryset.model
    return PAGE_MODELS.get(key) or _admin_model(key)


def _admin_model(key: str) -> type[models.Model] | None:
    """The model of an admin route ``admin/<app_label>/<model_name>/...``."""
    parts = key.split("/")
    if parts[0] != "admin" or len(parts) < 4:
        return None
    try:
        return apps.get_model(parts[1], parts[2])
    except (LookupError, ValueError):
        return None


FACTORIES = {
    f._meta.model: f
    for _, f in inspect.getmembers(factories, inspect.isclass)
    if issubclass(f, factories.factory.django.DjangoModelFactory) and f._meta.model
}


class World:
    """One object of each model a route needs, users of each role, their tokens."""

    def __init__(self, users: dict[str, User]):
        self.users = users
        editor = users["editor"]
        self.tokens = {
            "read_token": ApiToken.issue(user=editor, name="read", scope="read")[1],
            "write_token": ApiToken.issue(user=editor, name="write", scope="write")[1],
        }
        self.own_tokens = {
            name: ApiToken.issue(user=user, name="own")[0] for name, user in users.items()
        }
        self.objects: dict[type[models.Model], models.Model] = {
            User: users["viewer"],
            Group: Group.objects.get(name="viewer"),
            TOTPDevice: TOTPDevice.objects.create(user=users["admin"], name="app", confirmed=False),
            # Not the target list, which nobody may delete (its admin delete is a 403).
            AccountList: factories.AccountListFactory(),
            UserSession: UserSession.objects.create(user=users["viewer"], session_key="k" * 32),
        }
        common = {"username": "x", "ip_address": "10.0.0.1", "user_agent": "t"}
        common["attempt_time"] = timezone.now()
        self.objects[AccessAttempt] = AccessAttempt.objects.create(failures_since_start=1, **common)
        self.objects[AccessLog] = AccessLog.objects.create(**common)
        self.objects[AccessFailureLog] = AccessFailureLog.objects.create(**common)

    def obj(self, model, actor: str):
        """An existing row of ``model`` (None when there is no factory to make one)."""
        if model is ApiToken:
            return self.own_tokens.get(actor, self.own_tokens["viewer"])
        if model not in self.objects:
            found = model._default_manager.order_by("pk").first()
            if found is None and model in FACTORIES:
                found = FACTORIES[model]()
            self.objects[model] = found
        return self.objects[model]

    def url(self, key: str, pattern: URLPattern, actor: str) -> str:
        model = _model_of(key, pattern)
        values = {"app_label": "accounts", "url": "no-such-page/", "stage": 1}
        values |= {"uidb64": "MQ", "token": "not-a-token"}  # an invalid reset link
        values["kpi_id"] = next(k for k, s in REGISTRY.items() if s.drilldown == "account")
        values["content_type_id"] = ContentType.objects.get_for_model(Account).pk
        if "<part>" in key:  # a stage of the funnel, the map KPI with a list per part
            values |= {"kpi_id": "funnel", "part": "engaged"}
        account = self.obj(Account, actor)
        for name in ("pk", "object_id", "id"):
            if f"<{name}>" in key:
                assert model is not None, f"say which model <{name}> of {key} is (PAGE_MODELS)"
                obj = self.obj(model, actor) if model is not Account else account
                # Only the admin may lack a row (a model without a factory): it answers
                # "does not exist" with a redirect, after the access check.
                assert obj is not None or key.startswith("admin/"), f"no row for {key}"
                values[name] = obj.pk if obj is not None else 2**31 - 1
        url = "/" + key.replace(".<format>", ".json").replace("<format>", ".json")
        for name, value in values.items():
            url = url.replace(f"<{name}>", str(value))
        assert "<" not in url, f"the test has no value for an argument of {key}"
        return url + ("?" + QUERY[key] if key in QUERY else "")


@pytest.fixture
def world(viewer, editor, admin_user, no_role_user):
    return World({"no_role": no_role_user, "viewer": viewer, "editor": editor, "admin": admin_user})


def _clients(world: World, actor: str) -> dict[bool, Client]:
    """A page client and an API client for the actor (keyed by "is API")."""
    clients = {False: Client(), True: APIClient()}
    for client in clients.values():
        if actor in world.users:
            client.force_login(world.users[actor])
        elif actor in world.tokens:
            client.defaults["HTTP_AUTHORIZATION"] = f"Token {world.tokens[actor]}"
    return clients


def _effective_user(world: World, actor: str, rule: access.Rule):
    if actor in world.users:
        return world.users[actor]
    if actor in world.tokens and rule.is_api:
        return world.users["editor"]
    return None  # anonymous, or a token on a page (pages ignore tokens)


def _expected(world: World, actor: str, rule: access.Rule, method: str) -> bool | None:
    """True when the matrix allows it, False when it must be refused, None: no writes."""
    level = rule.level_for(method)
    if level is None:
        return None
    user = _effective_user(world, actor, rule)
    if level == access.ANONYMOUS:
        return True
    if method != "GET" and actor == "read_token" and rule.is_api:
        return False
    return user is not None and access.allows(level, user)


def _admin_refuses(key: str, method: str, user) -> bool:
    """Routes the ModelAdmin itself refuses even to admins (no add, change or delete)."""
    model = _admin_model(key)
    if model is None or not user:
        return False
    model_admin = admin.site._registry[model]
    request = type("R", (), {"user": user})()
    if key.endswith("/add/"):
        return not model_admin.has_add_permission(request)
    if key.endswith("/delete/"):
        return not model_admin.has_delete_permission(request)
    if key.endswith("/change/") and method != "GET":
        return not model_admin.has_change_permission(request)
    return False


def _is_login_redirect(response) -> bool:
    """A redirect to the sign-in page (the admin's own sign-in forwards there)."""
    location = response.get("Location", "")
    return response.status_code == 302 and location.startswith(("/login/", "/admin/login/"))


def _check(world, actor, key, pattern, method, clients) -> str | None:
    """None when the route answers as the matrix says, else what went wrong."""
    rule = access.rule_for(key)
    url = world.url(key, pattern, actor)
    assert access.rule_for(resolve(url.split("?")[0]).route) == rule, url
    client = clients[rule.is_api]
    try:
        if method == "GET":
            response = client.get(url)
        elif rule.is_api and "<pk>" in key:
            method = "PATCH"
            response = client.patch(url, {}, format="json")
        elif rule.is_api:
            response = client.post(url, {}, format="json")
        else:
            response = client.post(url, {})
    except Exception as exc:  # a crash is a finding like any other
        return f"{actor} {method} {url} raised {type(exc).__name__}: {exc}"
    expected = _expected(world, actor, rule, method)
    status = response.status_code
    where = f"{actor} {method} {url} -> {status}"
    refused = status in (401, 403) or _is_login_redirect(response)
    user = _effective_user(world, actor, rule)
    if status >= 500:
        return f"{where}: server error"
    if expected is None:
        return None if refused or status == 405 else f"{where}: the matrix says no writes"
    if expected:
        if _is_login_redirect(response) and (
            rule.level_for(method) == access.ANONYMOUS or (key in SIGN_OUT and method != "GET")
        ):
            return None  # the admin's sign-in forwards to the one sign-in page; sign-out worked
        if _admin_refuses(key, method, user):
            return None if status == 403 else f"{where}: the ModelAdmin refuses this"
        if refused:
            return f"{where}: the matrix allows it"
        if status == 404 and key not in NOT_FOUND_OK:
            return f"{where}: not found (use an existing object)"
        return None
    if not refused:
        return f"{where}: the matrix refuses it"
    if user is None and rule.is_api and status != 401:
        return f"{where}: anonymous API calls get 401"
    if user is None and not rule.is_api and not _is_login_redirect(response):
        return f"{where}: anonymous page requests go to the sign-in page"
    if user is not None and status != 403:
        return f"{where}: signed-in users who may not get 403"
    return None


@pytest.mark.django_db
@pytest.mark.parametrize("actor", ACTORS)
def test_routes_answer_as_the_matrix_says(world, actor):
    """Each actor reads (GET) and writes (POST/PATCH) every route."""
    clients = _clients(world, actor)
    problems = []
    for key, pattern in ROUTES:
        for method in ("GET", "POST"):
            problem = _check(world, actor, key, pattern, method, clients)
            if problem:
                problems.append(problem)
            if key in SIGN_OUT and method == "POST":
                clients = _clients(world, actor)
    assert not problems, "\n".join(problems)
