"""The Imports page's mapping editor (issue #16, item 6) and profile detection on the page.

A file in a layout no profile knows is uploaded, its columns mapped in the
editor, previewed (a dry run), imported, saved as a profile, and the profile
reused from the page, ``import_csv --mapping NAME`` and the API. Bad editor
input is named and loses nothing entered.
"""

import datetime as dt
import html as htmllib
import io
import re

import pytest
from django.core.management import call_command

from accounts.models import Account
from ingest.models import SavedMapping

#: A German ERP's company list: no shipped profile reads it; "Seit" is all-ambiguous.
ERP = (
    "Firma;Web;Mitarbeiter;Land;Seit\n"
    "Müller GmbH;mueller.example;120;DE;01/02/2026\n"
    "Schmidt AG;schmidt.example;45;AT;03/04/2026\n"
)
#: Columns of ERP mapped in the editor (with the date order and a constant).
MAPPED = {
    "col_0": "name",
    "col_1": "domain",
    "col_2": "employees",
    "col_3": "country",
    "col_4": "targeted_on",
    "date_order": "dmy",
    "const_field_0": "is_target",
    "const_value_0": "true",
}


@pytest.fixture
def editor_client(client, editor):
    client.force_login(editor)
    return client


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def upload(client, content: str, kind: str = "accounts", mapping: str = "auto") -> str:
    f = io.BytesIO(content.encode())
    f.name = "firms.csv"
    return text(
        client.post("/imports/", {"action": "preview", "kind": kind, "mapping": mapping, "file": f})
    )


def token_of(page: str) -> str:
    """The editor's token (the preview's, carrying the file and its mapping)."""
    return htmllib.unescape(re.search(r'name="token" value="([^"]+)"', page).group(1))


def run_token(page: str) -> str:
    form = re.search(
        r'name="action" value="run">\s*<input type="hidden" name="token" value="([^"]+)"', page
    )
    return htmllib.unescape(form.group(1))


def selected(page: str, name: str) -> str:
    """The selected option of the select ``name`` ("" when none is marked)."""
    block = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', page, re.S).group(1)
    match = re.search(r'<option value="([^"]*)" selected>', block)
    return htmllib.unescape(match.group(1)) if match else ""


def edit(client, page: str, action: str = "remap", **fields) -> str:
    return text(client.post("/imports/", {"action": action, "token": token_of(page), **fields}))


def test_map_preview_import_save_and_reuse_everywhere(editor_client, editor, tmp_path, capsys):
    page = upload(editor_client, ERP)
    # Detection found nothing: said, and the editor offers every column, unmapped.
    assert "No shipped or saved mapping reads this header; map its columns below." in page
    assert "Nothing imported: The header has no column for name" in page
    assert "Run the import" not in page
    # Nothing can be read yet: the rows are not marked "ok" under "Rows read 0" (#19).
    assert "<td>ok</td>" not in page and "not imported (see the errors above)" in page
    assert [selected(page, f"col_{i}") for i in range(5)] == [""] * 5
    assert "Müller GmbH" in page  # the first value of each column, beside its drop-down

    # Mapped without a date order: the all-ambiguous column stops the dry run, by name.
    no_order = {**MAPPED, "date_order": ""}
    page = edit(editor_client, page, **no_order)
    assert "Seit" in page and "Nothing imported" in page
    assert selected(page, "col_4") == "targeted_on"  # the editor starts from the edited mapping

    page = edit(editor_client, page, **MAPPED)
    assert "2 rows read: 2 would be created" in page
    assert "default (edited)" in page
    assert Account.objects.count() == 0  # a preview writes nothing
    assert selected(page, "date_order") == "dmy"
    assert selected(page, "const_field_0") == "is_target"

    report = text(editor_client.post("/imports/", {"action": "run", "token": run_token(page)}))
    assert "2 rows read: 2 created" in report
    mueller = Account.objects.get(domain="mueller.example")
    assert (mueller.name, mueller.employees, mueller.is_target) == ("Müller GmbH", 120, True)
    assert mueller.targeted_on == dt.date(2026, 2, 1)  # day first, as the editor said

    # Save as profile (a fresh upload: the run consumed the file).
    page = edit(
        editor_client,
        upload(editor_client, ERP),
        action="save",
        profile_name="erp-firms",
        profile_label="Our ERP's company list",
        **MAPPED,
    )
    assert 'Saved as profile "erp-firms"' in page
    assert "--mapping erp-firms" in page
    saved = SavedMapping.objects.get(name="erp-firms")
    assert (saved.kind, saved.label, saved.created_by) == (
        "accounts",
        "Our ERP's company list",
        editor,
    )
    assert saved.data["columns"] == {
        "Firma": "name",
        "Web": "domain",
        "Mitarbeiter": "employees",
        "Land": "country",
        "Seit": "targeted_on",
    }
    assert (saved.data["date_order"], saved.data["constants"]) == ("dmy", {"is_target": "true"})
    assert "2 unchanged" in page and "(Accounts, mapping erp-firms)" in page

    # Reuse from the page: detected from the header, and offered in the mapping list.
    page = upload(editor_client, ERP)
    assert "Mapping &#x27;erp-firms&#x27; detected from the header" in page
    assert "2 rows read: 0 would be created, 0 would be updated, 2 unchanged" in page
    assert selected(page, "col_0") == "name" and selected(page, "date_order") == "dmy"
    assert '<option value="erp-firms"' in page
    page = upload(editor_client, ERP, mapping="erp-firms")
    assert "2 unchanged" in page

    # From the command and the API.
    path = tmp_path / "firms.csv"
    path.write_text(ERP.replace("Schmidt AG", "Schmidt SE"), encoding="utf-8")
    call_command("import_csv", "accounts", str(path), "--mapping", "erp-firms")
    assert "1 updated, 1 unchanged" in capsys.readouterr().out
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(editor)
    with path.open("rb") as fh:
        answer = api.post(
            "/api/v1/imports/",
            {"file": fh, "kind": "accounts", "mapping": "erp-firms", "dry_run": "true"},
            format="multipart",
        )
    assert answer.status_code == 200, answer.json()
    assert (answer.json()["mapping"], answer.json()["unchanged"]) == ("erp-firms", 2)


def test_editor_errors_are_named_and_keep_the_input(editor_client, db):
    page = upload(editor_client, ERP)
    # An unknown field: named with its column; every other choice shown as entered.
    bad = edit(editor_client, page, **{**MAPPED, "col_2": "headcount"})
    assert "Column &#x27;Mitarbeiter&#x27;: &#x27;headcount&#x27; is not a field of accounts" in bad
    assert selected(bad, "col_2") == "headcount"
    assert [selected(bad, f"col_{i}") for i in (0, 1, 3, 4)] == [
        "name",
        "domain",
        "country",
        "targeted_on",
    ]
    assert selected(bad, "date_order") == "dmy"
    assert 'name="const_value_0" value="true"' in bad
    # A required field nothing feeds.
    bad = edit(editor_client, page, **{**MAPPED, "col_0": ""})
    assert "Nothing feeds name (required): choose it for a column or give it as a constant." in bad
    assert selected(bad, "col_1") == "domain"
    # A constant for an unknown field, and one without a value.
    bad = edit(editor_client, page, **{**MAPPED, "const_field_1": "colour", "const_value_1": "red"})
    assert "Constant &#x27;colour&#x27; is not a field of accounts." in bad
    bad = edit(editor_client, page, **{**MAPPED, "const_field_1": "industry"})
    assert "Give the value of the constant industry." in bad
    # Save-as-profile names: missing, shipped, taken.
    bad = edit(editor_client, page, action="save", **MAPPED)
    assert "Name the profile to save it." in bad
    bad = edit(editor_client, page, action="save", profile_name="salesforce", **MAPPED)
    assert "&#x27;salesforce&#x27; is the name of a shipped mapping" in bad
    assert SavedMapping.objects.count() == 0
    edit(editor_client, page, action="save", profile_name="erp", **MAPPED)
    bad = edit(
        editor_client, page, action="save", profile_name="erp", profile_label="Mine", **MAPPED
    )
    assert "A mapping named &#x27;erp&#x27; already exists; choose another name." in bad
    assert 'name="profile_name" value="erp"' in bad and 'value="Mine"' in bad
    assert selected(bad, "col_4") == "targeted_on"
    assert SavedMapping.objects.count() == 1


def test_detected_profile_is_named_and_can_be_overridden(editor_client, db):
    salesforce = "Account ID,Account Name,Website,Industry\n001A,Acme,acme.example,Software\n"
    page = upload(editor_client, salesforce)
    assert "Mapping &#x27;salesforce&#x27; detected from the header" in page
    assert "(Accounts, mapping salesforce)" in page
    assert selected(page, "col_1") == "name" and selected(page, "col_0") == "external_id"
    assert selected(page, "start_from") == "salesforce"
    # Start again from our column names: nothing reads "Account Name" then.
    page = edit(editor_client, page, action="restart", start_from="default")
    assert "(Accounts, mapping default)" in page
    assert "The header has no column for name" in page
    assert selected(page, "col_1") == ""
    page = edit(editor_client, page, action="restart", start_from="nope")
    assert "Unknown mapping &#x27;nope&#x27; for accounts." in page
    # Editing a profile keeps its value translations and options (HubSpot tiers here).
    hubspot = "Record ID,Company name,Ideal Customer Profile Tier\n9,Initech,tier_1\n"
    page = upload(editor_client, hubspot)
    assert "Mapping &#x27;hubspot&#x27; detected" in page
    page = edit(editor_client, page, col_0="external_id", col_1="name", col_2="tier", date_order="")
    assert "1 rows read: 1 would be created" in page and "hubspot (edited)" in page
    run = text(editor_client.post("/imports/", {"action": "run", "token": run_token(page)}))
    assert "1 created" in run
    assert Account.objects.get(name="Initech").tier.name == "Tier 1"


def test_viewers_cannot_edit_or_save(client, viewer, editor_client, db):
    page = upload(editor_client, ERP)
    client.force_login(viewer)
    for action in ("remap", "save", "restart"):
        answer = client.post(
            "/imports/", {"action": action, "token": token_of(page), "profile_name": "x", **MAPPED}
        )
        assert answer.status_code == 403
    assert SavedMapping.objects.count() == 0


def test_editor_keeps_multi_field_and_count_columns(db):
    """A column feeding two fields (Salesforce's Stage) and count columns (LinkedIn's
    Impressions) are one choice each; editing keeps the profile's value translations."""
    from ingest.selectors import editor_initial, editor_targets, mapping_data
    from ingest.services import editor_mapping

    header = ["Opportunity Name", "Account Name", "Stage", "Amount"]
    start = editor_initial("opportunities", header, "salesforce")
    assert start["columns"] == {
        0: "name",
        1: "account_name",
        2: "crm_stage+status",
        3: "amount",
    }
    base = mapping_data("opportunities", "salesforce")
    data = editor_mapping("opportunities", header, base, start["columns"], [], "")
    assert data["columns"]["Stage"] == ["crm_stage", "status"]
    assert data["values"]["status"] == {"Closed Won": "won", "Closed Lost": "lost"}
    assert data["source"] == "salesforce" and "Opportunity ID" not in data["columns"]
    assert ("count:ad_impression", "count of ad_impression touches") in editor_targets("touches")
    start = editor_initial("touches", ["Company Name", "Impressions"], "linkedin-ads")
    assert start["columns"] == {0: "account_name", 1: "count:ad_impression"}
