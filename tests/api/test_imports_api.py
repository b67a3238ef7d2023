"""POST /api/v1/imports/: a CSV upload through ``ingest.services.csv_import``."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Account

pytestmark = pytest.mark.django_db
URL = "/api/v1/imports/"
CSV = b"name,domain,industry\nAcme,acme.com,Software\nGlobex,globex.io,Retail\n,nameless.io,x\n"


def _upload(client, data: dict):
    return client.post(URL, data, format="multipart")


def test_import_accounts_reports_rows(editor_api):
    response = _upload(editor_api, {"file": SimpleUploadedFile("a.csv", CSV), "kind": "accounts"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["rows_read"], body["created"], body["rejected_count"]) == (3, 2, 1)
    assert body["rejected"][0]["line"] == 4
    assert sorted(Account.objects.values_list("domain", flat=True)) == ["acme.com", "globex.io"]
    again = _upload(editor_api, {"file": SimpleUploadedFile("a.csv", CSV), "kind": "accounts"})
    assert (again.json()["created"], again.json()["unchanged"]) == (0, 2)


def test_dry_run_stores_nothing(editor_api):
    response = _upload(
        editor_api,
        {"file": SimpleUploadedFile("a.csv", CSV), "kind": "accounts", "dry_run": "true"},
    )
    assert response.status_code == 200
    assert response.json()["created"] == 2
    assert response.json()["dry_run"] is True
    assert Account.objects.count() == 0


def test_inline_json_mapping(editor_api):
    data = b"Company,Website\nAcme,acme.com\n"
    mapping = '{"columns": {"Company": "name", "Website": "domain"}}'
    response = _upload(
        editor_api,
        {"file": SimpleUploadedFile("a.csv", data), "kind": "accounts", "mapping": mapping},
    )
    assert response.status_code == 200, response.content
    assert Account.objects.get().domain == "acme.com"


@pytest.mark.parametrize(
    "data,name",
    [
        ({"kind": "accounts"}, "file"),
        ({"kind": "planets"}, "kind"),
        ({"kind": "accounts", "mapping": "/etc/passwd"}, "mapping"),
        ({"kind": "accounts", "mapping": "{not json"}, "mapping"),
        ({"kind": "accounts", "mapping": "[1, 2]"}, "mapping"),
        ({"kind": "accounts", "mapping": '{"columns": {"a": "name"}, "values": []}'}, "mapping"),
        ({"kind": "accounts", "mapping": '{"columns": {}}'}, "mapping"),
        ({"kind": "accounts", "dry_run": "perhaps"}, "dry_run"),
    ],
)
def test_bad_parameters_are_400_naming_them(editor_api, data, name):
    if name != "file":
        data = {**data, "file": SimpleUploadedFile("a.csv", CSV)}
    response = _upload(editor_api, data)
    assert response.status_code == 400, response.content
    assert name in response.json()
    assert Account.objects.count() == 0


def test_file_that_is_not_csv_is_400_with_the_report(editor_api):
    workbook = SimpleUploadedFile("a.csv", b"PK\x03\x04 binary")
    response = _upload(editor_api, {"file": workbook, "kind": "accounts"})
    assert response.status_code == 400
    assert "Excel" in response.json()["errors"][0]


def test_access(viewer_api, editor_read_api, api_client):
    for client, code in ((viewer_api, 403), (editor_read_api, 403), (api_client, 401)):
        response = _upload(client, {"file": SimpleUploadedFile("a.csv", CSV), "kind": "accounts"})
        assert response.status_code == code
    assert Account.objects.count() == 0
