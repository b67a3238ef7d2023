"""The API's JSON parser refuses documents nested too deeply, naming the problem.

Python's JSON reader recurses once per level: about 950 levels exhausted the
interpreter's stack and ended in a 500. Every JSON operation of the schema
is tried, so a new endpoint cannot miss the check.
"""

import io
import json

import pytest
from drf_spectacular.generators import SchemaGenerator

from abm_site.parsers import MAX_JSON_DEPTH, StrictJSONParser, json_depth_exceeds
from tests import factories as f
from tests.conftest import token_client

pytestmark = pytest.mark.django_db


def _json_operations() -> list[tuple[str, str]]:
    """(method, path) of every operation that takes a JSON body."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                operations.append((method, path + ("?source=web" if "bulk" in path else "")))
    return sorted(operations)


OPERATIONS = _json_operations()
FACTORIES = {
    "accounts": f.AccountFactory,
    "lists": f.AccountListFactory,
    "tiers": f.TierFactory,
    "stakeholders": f.StakeholderFactory,
    "programs": f.ProgramFactory,
    "spend": f.SpendFactory,
    "touches": f.TouchFactory,
    "visitors": f.VisitorFactory,
    "intent-signals": f.IntentSignalFactory,
    "opportunities": f.OpportunityFactory,
    "nps-responses": f.NpsResponseFactory,
    "webhook-subscriptions": f.WebhookSubscriptionFactory,
}
#: Writes only admins may make (abm_site/access.py); the rest is an editor's.
ADMIN_ONLY = ("webhook-subscriptions", "weights")


def _nested(depth: int, kind: str = "array") -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def test_every_write_operation_takes_json():
    methods = {method for method, _ in OPERATIONS}
    assert methods == {"post", "put", "patch"}
    assert ("post", "/api/v1/touches/bulk/?source=web") in OPERATIONS
    assert len(OPERATIONS) >= 30


@pytest.mark.parametrize(("method", "url"), OPERATIONS)
def test_deeply_nested_json_is_a_400_naming_the_depth(editor_api, admin_api, method, url):
    client = admin_api if url.split("/")[3] in ADMIN_ONLY else editor_api
    if "{id}" in url:  # a row to change, so the body is read rather than answered 404
        url = url.replace("{id}", str(FACTORIES[url.split("/")[3]]().pk))
    for body in (_nested(950), _nested(5000, "object"), _nested(MAX_JSON_DEPTH + 1)):
        response = getattr(client, method)(url, body, content_type="application/json")
        assert response.status_code == 400, (url, response.content[:200])
        detail = response.json()["detail"]
        assert f"nested more than {MAX_JSON_DEPTH} levels" in detail, detail


def test_depth_up_to_the_limit_is_parsed():
    parser = StrictJSONParser()
    for kind in ("array", "object"):
        body = _nested(MAX_JSON_DEPTH, kind).encode()
        assert parser.parse(io.BytesIO(body)) == json.loads(body)
    # Brackets inside strings are text, not nesting.
    body = json.dumps({"name": "[" * 5000 + "{" * 5000}).encode()
    assert parser.parse(io.BytesIO(body))["name"].startswith("[[[")


def test_a_bulk_request_of_flat_rows_passes_the_check_whole():
    # Many brackets but only two levels: the walk visits each container once and lets
    # the rows through (speed is not timed here: the machine is shared; see bench/).
    rows = [{"account": 1, "kind": "web_visit", "occurred_at": "2024-03-01"}] * 10_000
    body = json.dumps(rows).encode()
    assert StrictJSONParser().parse(io.BytesIO(body)) == rows
    assert not json_depth_exceeds(rows, 2)


def test_a_user_without_a_role_gets_no_500_either(no_role_user):
    client = token_client(no_role_user, "write")
    response = client.post("/api/v1/tiers/", _nested(950), content_type="application/json")
    assert response.status_code in (400, 403)


@pytest.mark.parametrize(
    ("data", "deepest"),
    [(1, 0), ("[[[", 0), ([], 1), ({}, 1), ([1, [2, {"a": [3]}]], 4), ({"a": {"b": []}}, 3)],
)
def test_json_depth_exceeds_counts_arrays_and_objects(data, deepest):
    assert not json_depth_exceeds(data, deepest)
    assert json_depth_exceeds(data, deepest - 1) == (deepest > 0)
