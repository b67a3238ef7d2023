"""Schemathesis fuzzes every API operation through the WSGI application.

Each operation gets a bounded number of generated requests (the schema's
examples, then valid and invalid fuzzed data; the unbounded coverage phase
is off), sent with an editor's read-write token; no answer may be a 5xx,
have a status code the operation does not document, or contradict the
response schema it documents. The requests run
in-process inside the test's transaction, so the whole run stays near two
minutes.
"""

import json

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.conftest import make_user
from tests.factories import (
    AccountFactory,
    AccountSnapshotFactory,
    AccountStageChangeFactory,
    FunnelSnapshotFactory,
    NpsResponseFactory,
    OpportunityFactory,
    SpendFactory,
    StakeholderFactory,
    TouchFactory,
    VisitorFactory,
)

EXAMPLES_PER_OPERATION = 12


def _schema() -> dict:
    document = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(document, renderer_context={}))


schema = schemathesis.openapi.from_dict(
    _schema(),
    config=SchemathesisConfig.from_dict(
        {"phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}}}
    ),
)
schema.app = get_wsgi_application()


@pytest.fixture
def fuzz_headers(db, django_user_model):
    """An editor's write token and a few rows of every kind for the ids to hit."""
    from abm_site.models import ApiToken

    editor = make_user(django_user_model, "fuzzer", "editor")
    _, key = ApiToken.issue(user=editor, name="fuzz", scope="write")
    for _ in range(2):
        account = AccountFactory()
        StakeholderFactory(account=account)
        TouchFactory(account=account)
        OpportunityFactory(account=account)
        NpsResponseFactory(account=account)
        AccountStageChangeFactory(account=account)
        AccountSnapshotFactory(account=account)
        VisitorFactory(account=account)
    SpendFactory()
    FunnelSnapshotFactory()
    return {"Authorization": f"Token {key}"}


@pytest.fixture
def unthrottled(monkeypatch):
    """The fuzzer sends more requests a minute than one token may; lift the limit here only."""
    from rest_framework.views import APIView

    monkeypatch.setattr(APIView, "throttle_classes", [])


@pytest.fixture
def in_test_transaction():
    """Keep the test's connection open across WSGI requests (as Django's test client does)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_operation(case, fuzz_headers, unthrottled, in_test_transaction):
    case.call_and_validate(
        headers=fuzz_headers,
        checks=[not_a_server_error, response_schema_conformance, status_code_conformance],
    )
