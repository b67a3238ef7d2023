"""The OpenAPI schema is valid and complete, with no generator warnings."""

import pytest
from django.core.management import call_command

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
        "/api/v1/touches/bulk/:",
        "/api/v1/imports/:",
        "/api/v1/accounts/{id}/timeline/:",
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
