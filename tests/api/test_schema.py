"""The OpenAPI schema is valid and complete, with no generator warnings."""

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import override_settings
from drf_spectacular.generators import SchemaGenerator
from rest_framework.settings import api_settings

from abm_site.api_base import constraint_field
from funnel.models import Opportunity


def test_spectacular_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    for path in (
        "/api/v1/kpis/:",
        "/api/v1/kpis/{kpi_id}/:",
        "/api/v1/kpis/{kpi_id}/accounts/:",
        "/api/v1/kpis/{kpi_id}/series/:",
        "/api/v1/touches/bulk/:",
        "/api/v1/imports/:",
        "/api/v1/accounts/{id}/timeline/:",
        "/api/v1/accounts/{id}/scores/:",
        "/api/v1/funnel-snapshots/:",
    ):
        assert path in text


@pytest.mark.django_db
def test_schema_and_docs_are_served(viewer_api):
    assert viewer_api.get("/api/schema/").status_code == 200
    assert viewer_api.get("/api/docs/").status_code == 200


def test_constraint_field_names_the_field_at_fault():
    by_name = {c.name.rsplit("_opportunity_", 1)[-1]: c for c in Opportunity._meta.constraints}
    assert constraint_field(by_name["closed_has_date"]) == "closed_on"
    assert constraint_field(by_name["closed_after_created"]) == "closed_on"
    assert constraint_field(by_name["amount_not_negative"]) == "amount"
    assert constraint_field(by_name["source_external_id_unique"]) == "external_id"


def _schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_every_operation_documents_its_error_responses():
    schema = _schema()
    components = schema["components"]["schemas"]
    assert components["ErrorDetail"]["required"] == ["detail"]
    assert "ValidationError" in components
    operations = list(_operations(schema))
    assert len(operations) >= 60
    for path, method, operation in operations:
        codes = set(operation["responses"])
        where = (path, method)
        assert {"401", "403", "429", "503"} <= codes, where
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= codes, where
        if "{" in path:
            assert "404" in codes, where
        if any(p["name"] == "page" for p in operation.get("parameters", [])):
            assert "404" in codes, where  # a page past the last
        for code in ("429", "503"):
            assert "Retry-After" in operation["responses"][code]["headers"], where
        for code, response in operation["responses"].items():
            if code.startswith(("4", "5")):
                assert "application/json" in response["content"], (where, code)
        if method == "post":
            assert "422" in codes, where
            headers = [p for p in operation["parameters"] if p["in"] == "header"]
            assert [h["name"] for h in headers] == ["Idempotency-Key"], where
        else:
            assert "422" not in codes, where
    assert "409" in schema["paths"]["/api/v1/programs/{id}/"]["delete"]["responses"]


@pytest.mark.django_db
def test_real_error_answers_are_the_documented_ones(api_client, viewer_api, editor_api):
    """One real answer of each error status, checked against the operation's documentation."""
    schema = _schema()
    seen = set()

    def documented(path: str, method: str, response) -> None:
        seen.add(response.status_code)
        responses = schema["paths"][path][method]["responses"]
        assert str(response.status_code) in responses, (path, method, response.status_code)
        assert response["Content-Type"] == "application/json"
        component = responses[str(response.status_code)]["content"]["application/json"]
        name = component["schema"]["$ref"].rsplit("/", 1)[-1]
        for key in schema["components"]["schemas"][name].get("required", []):
            assert key in response.json(), (path, response.json())

    documented("/api/v1/tiers/", "get", api_client.get("/api/v1/tiers/"))  # 401
    documented("/api/v1/tiers/", "post", viewer_api.post("/api/v1/tiers/", {}, format="json"))
    documented("/api/v1/tiers/", "post", editor_api.post("/api/v1/tiers/", {}, format="json"))
    documented("/api/v1/tiers/{id}/", "get", editor_api.get("/api/v1/tiers/987654/"))
    documented("/api/v1/tiers/", "get", editor_api.get("/api/v1/tiers/?page=99"))
    documented(
        "/api/v1/tiers/", "post", editor_api.post("/api/v1/tiers/", "x", content_type="text/plain")
    )
    with override_settings(ABM_MAX_JSON_BYTES=10):
        big = editor_api.post("/api/v1/tiers/", {"name": "x" * 20}, format="json")
    documented("/api/v1/tiers/", "post", big)
    key = {"HTTP_IDEMPOTENCY_KEY": "k"}
    editor_api.post("/api/v1/tiers/", {"name": "A", "rank": 1}, format="json", **key)
    reused = editor_api.post("/api/v1/tiers/", {"name": "B", "rank": 2}, format="json", **key)
    documented("/api/v1/tiers/", "post", reused)
    cache.clear()
    rates = {**api_settings.user_settings, "DEFAULT_THROTTLE_RATES": {"api": "1/min"}}
    with override_settings(REST_FRAMEWORK=rates):
        editor_api.get("/api/v1/tiers/")
        throttled = editor_api.get("/api/v1/tiers/")
    cache.clear()
    documented("/api/v1/tiers/", "get", throttled)
    assert seen == {400, 401, 403, 404, 413, 415, 422, 429}
