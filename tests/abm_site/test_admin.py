"""The Django admin: every registered model lists, adds and edits without error."""

import base64
import datetime as dt
import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from abm_site.models import ApiToken
from accounts.models import Account
from funnel.models import RecomputeChunk, RecomputeRun
from ingest.models import ExchangeRate, SavedMapping
from reports.models import ReportSchedule
from tests import factories as f

REGISTRY = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
IDS = [model._meta.label for model, _ in REGISTRY]


@pytest.fixture
def one_of_each(db, admin_user):
    """A row of every registered model, linked the way real data is."""
    account = f.AccountFactory(tier=f.TierFactory(), owner=f.OwnerFactory(user=admin_user))
    f.AccountDomainFactory(account=account)
    # A graded account: the trigger writes its FitGradeChange (as it writes TierChange).
    Account.objects.filter(pk=account.pk).update(fit_grade="A")
    stakeholder = f.StakeholderFactory(account=account)
    program = f.ProgramFactory()
    visitor = f.VisitorFactory(account=account, stakeholder=stakeholder)
    f.IcpRuleFactory()
    f.SpendFactory(program=program)
    f.TouchFactory(account=account, stakeholder=stakeholder, program=program, visitor=visitor)
    f.IntentSignalFactory(account=account)
    f.HighValuePageFactory()
    f.OpportunityFactory(account=account)
    f.NpsResponseFactory(account=account, stakeholder=stakeholder)
    f.AccountStageChangeFactory(account=account)
    f.AccountSnapshotFactory(account=account)
    f.FunnelSnapshotFactory()
    run = RecomputeRun.objects.create(date=dt.date(2024, 1, 15), started_at=timezone.now())
    run.chunks.create(first_id=1, last_id=account.pk, accounts=1)
    ApiToken.issue(user=admin_user, name="ci")
    TOTPDevice.objects.create(user=admin_user, name="Phone", confirmed=True)
    ExchangeRate.objects.create(currency="EUR", rate="1.08")
    SavedMapping.objects.create(name="my-crm", kind="accounts", data={"columns": {"Firm": "name"}})
    event = f.EventFactory(account=account, type="account.stage_changed")
    f.WebhookDeliveryFactory(
        event=event, subscription=f.WebhookSubscriptionFactory(tier=account.tier)
    )
    f.AlertItemFactory(event=event, subscription=f.AlertSubscriptionFactory(user=admin_user))
    ReportSchedule.objects.create(name="Weekly", recipients="cmo@example.com")


@pytest.fixture
def admin_client_(client, admin_user):
    client.force_login(admin_user)
    return client


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_domain_model_users_and_tokens_are_registered():
    from django.apps import apps

    from abm_site.models import User
    from funnel.models import StageCheckpoint

    registered = {model for model, _ in REGISTRY}
    assert {User, ApiToken, Group} <= registered
    # Working rows, written and emptied inside one transaction: nothing to see or edit.
    working = {StageCheckpoint}
    for label in ("accounts", "engagement", "funnel", "events", "activation", "reports"):
        for model in apps.get_app_config(label).get_models():
            assert model in registered or model in working, model
    assert not working & registered


@pytest.mark.django_db
def test_admin_index_lists_every_model(admin_client_):
    response = admin_client_.get("/admin/")
    assert response.status_code == 200
    for model, _ in REGISTRY:
        assert url(model, "changelist") in response.text, model


@pytest.mark.django_db
@pytest.mark.parametrize(("model", "model_admin"), REGISTRY, ids=IDS)
def test_changelist_and_search(admin_client_, one_of_each, model, model_admin):
    obj = model.objects.order_by("pk").first()
    response = admin_client_.get(url(model, "changelist"))
    assert response.status_code == 200
    if obj is not None:  # third-party models (sign-in lockout, OTP) have no row here
        assert url(model, "change", obj.pk) in response.text
    if model_admin.search_fields:
        assert admin_client_.get(url(model, "changelist"), {"q": "x"}).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(("model", "model_admin"), REGISTRY, ids=IDS)
def test_add_page(admin_client_, rf, admin_user, model, model_admin):
    request = rf.get("/")
    request.user = admin_user
    expected = 200 if model_admin.has_add_permission(request) else 403
    assert admin_client_.get(url(model, "add")).status_code == expected


@pytest.mark.django_db
@pytest.mark.parametrize(("model", "model_admin"), REGISTRY, ids=IDS)
def test_change_page(admin_client_, one_of_each, model, model_admin):
    obj = model.objects.order_by("pk").first()
    if obj is None:
        pytest.skip(f"no {model._meta.label} row to edit (not a model of this project)")
    assert admin_client_.get(url(model, "change", obj.pk)).status_code == 200


def test_computed_models_are_read_only_in_the_admin(rf, admin_user):
    from funnel.models import AccountSnapshot, AccountStageChange, FunnelSnapshot

    request = rf.get("/")
    request.user = admin_user
    for model in (
        AccountSnapshot,
        AccountStageChange,
        FunnelSnapshot,
        RecomputeRun,
        RecomputeChunk,
    ):
        model_admin = admin.site._registry[model]
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)


@pytest.mark.django_db
def test_adding_an_api_token_shows_the_key_once_and_it_works(admin_client_, editor):
    response = admin_client_.post(
        url(ApiToken, "add"),
        {"user": editor.pk, "name": "CRM sync", "scope": "write"},
        follow=True,
    )
    assert response.status_code == 200
    keys = re.findall(r"\babm_[A-Za-z0-9_-]{43}\b", response.text)
    assert len(set(keys)) == 1, "the new key is shown exactly once"
    token = ApiToken.objects.get(name="CRM sync")
    assert token.user == editor
    assert ApiToken.lookup(keys[0]) == token
    change = admin_client_.get(url(ApiToken, "change", token.pk))
    assert keys[0] not in change.text


@pytest.mark.django_db
def test_viewer_and_editor_cannot_open_the_admin(client, viewer, editor):
    for user in (viewer, editor):
        client.force_login(user)
        response = client.get("/admin/")
        assert response.status_code in (302, 403)  # admin login redirect, or the access table
        assert "Site administration" not in response.content.decode()


@pytest.mark.django_db
def test_groups_are_listed(admin_client_):
    response = admin_client_.get(url(Group, "changelist"))
    assert response.status_code == 200
    for name in ("viewer", "editor", "admin"):
        assert f">{name}<" in response.text


@pytest.fixture
def totp_device(db, viewer):
    return TOTPDevice.objects.create(user=viewer, name="Phone", confirmed=True)


def _secret_forms(device) -> list[str]:
    return [device.key, device.key.upper(), base64.b32encode(device.bin_key).decode()]


@pytest.mark.django_db
@pytest.mark.parametrize("view", ["config", "qrcode"])
def test_a_missing_totp_device_is_a_404(admin_client_, view):
    response = admin_client_.get(f"/admin/otp_totp/totpdevice/987654/{view}/")
    assert response.status_code == 404


@pytest.mark.django_db
def test_totp_secrets_are_not_shown_to_admins(admin_client_, totp_device):
    pages = [
        url(TOTPDevice, "changelist"),
        url(TOTPDevice, "change", totp_device.pk),
        url(TOTPDevice, "history", totp_device.pk),
        url(TOTPDevice, "delete", totp_device.pk),
    ]
    for page in pages:
        response = admin_client_.get(page)
        assert response.status_code == 200, page
        for secret in _secret_forms(totp_device):
            assert secret not in response.text, page
        assert "/config/" not in response.text and "/qrcode/" not in response.text, page
    for view in ("config", "qrcode"):
        response = admin_client_.get(f"/admin/otp_totp/totpdevice/{totp_device.pk}/{view}/")
        assert response.status_code == 404, view
        for secret in _secret_forms(totp_device):
            assert secret.encode() not in response.content


@pytest.mark.django_db
def test_an_admin_adds_a_totp_device_without_seeing_or_choosing_its_key(admin_client_, editor):
    add = admin_client_.get(url(TOTPDevice, "add"))
    assert add.status_code == 200
    assert 'name="key"' not in add.text
    response = admin_client_.post(
        url(TOTPDevice, "add"),
        {
            "user": editor.pk,
            "name": "Token",
            "key": "00" * 20,
            "step": 30,
            "t0": 0,
            "digits": 6,
            "tolerance": 1,
            "drift": 0,
            "throttling_failure_count": 0,
        },
        follow=True,
    )
    assert response.status_code == 200
    device = TOTPDevice.objects.get(user=editor)
    assert device.key != "00" * 20 and len(device.key) == 40  # a random key, not the posted one
    for secret in _secret_forms(device):
        assert secret not in response.text
