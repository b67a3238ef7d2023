"""The Imports page: upload a CSV, preview it as a dry run, edit its mapping, run it."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET, require_http_methods

from abm_site import access
from abm_site.exports import csv_response
from ingest import selectors as ingest_selectors
from ingest import services as ingest_services

from .forms import (
    MappingEditorForm,
    ReportQuery,
    RunForm,
    UploadForm,
    report_query,
)
from .views import page

# --- imports ------------------------------------------------------------------------------------


def _require_editor(request: HttpRequest) -> None:
    if not access.allows(access.EDITOR, request.user):
        raise PermissionDenied("Only editors and admins may import data.")


@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    """Upload a CSV, preview it as a dry run, edit its mapping, run it, and read the report."""
    _require_editor(request)
    rq = report_query(request)
    context: dict = {
        "kinds": ingest_selectors.kind_choices(),
        "mappings": ingest_selectors.mapping_choices(),
        "hide_filters": True,  # an import has no period; the links still carry it
    }
    if request.method == "GET":
        context["form"] = UploadForm()
        return page(request, "reports/import.html", rq, context)
    action = request.POST.get("action")
    if action in ("run", "remap", "save", "restart"):
        run_form = RunForm(request.POST, user_id=request.user.pk)
        if not run_form.is_valid():
            context["form"] = UploadForm()
            context["run_errors"] = [e for errs in run_form.errors.values() for e in errs]
            return page(request, "reports/import.html", rq, context)
        upload = run_form.cleaned_data["token"]
        if action != "run":
            return _import_edit(request, rq, context, action, upload)
        context.update(ingest_services.import_run(upload, request.user.pk))
        return page(request, "reports/import_report.html", rq, context)
    form = UploadForm(request.POST, request.FILES)
    context["form"] = form
    if not form.is_valid():
        return page(request, "reports/import.html", rq, context)
    result = ingest_services.import_preview(form.cleaned_data, request.user.pk)
    context.update(result)
    context["editor"] = _editor_for(result)
    return page(request, "reports/import.html", rq, context)


def _import_edit(
    request: HttpRequest, rq: ReportQuery, context: dict, action: str, upload: dict
) -> HttpResponse:
    """The mapping editor's buttons: preview the edited mapping (``remap``), save it as a
    profile and preview with it (``save``), or start again from a named mapping
    (``restart``). Bad input re-renders the editor as entered, with the errors."""
    kind, mapping = upload["k"], upload["m"]
    editor: MappingEditorForm | None = None
    if action == "restart":
        start = request.POST.get("start_from", "")
        names = [ingest_selectors.AUTO] + [n for n, _ in ingest_selectors.available_mappings(kind)]
        if start in names:
            mapping = start
        else:
            context["run_errors"] = [f"Unknown mapping '{start[:50]}' for {kind}."]
    else:
        header, samples = ingest_selectors.upload_columns(upload)
        editor = MappingEditorForm(request.POST, upload=upload, header=header, samples=samples)
        if editor.is_valid():
            mapping = editor.cleaned_data["mapping"]
            if action == "save":
                try:
                    saved = ingest_services.saved_mapping_create(
                        name=editor.cleaned_data["profile_name"],
                        kind=kind,
                        label=editor.cleaned_data["profile_label"],
                        data=mapping,
                        user=request.user,
                    )
                except ingest_services.MappingEditError as exc:
                    editor.add_errors(exc)
                else:
                    mapping = saved.name
                    context["saved_profile"] = saved
        if editor.is_valid():
            editor = None  # a fresh editor, from the mapping the new preview used
    result = ingest_services.upload_preview(
        upload["f"], kind, mapping, upload["n"], request.user.pk
    )
    context.update(result)
    context["form"] = UploadForm()
    context["editor"] = editor or _editor_for(result)
    return page(request, "reports/import.html", rq, context)


def _editor_for(result: dict) -> MappingEditorForm | None:
    """The mapping editor of a preview, started from the mapping it used."""
    header = result["preview"].get("header")
    if not header:
        return None
    upload = {"k": result["kind"], "m": result["mapping"], "token": result["token"]}
    return MappingEditorForm(upload=upload, header=header, samples=result["preview"]["samples"])


@require_GET
def import_rejected_csv(request: HttpRequest) -> HttpResponse:
    """The rejected rows of a finished import (line, column, reason, the row) as CSV."""
    _require_editor(request)
    try:
        header, rows, name = ingest_services.rejected_rows(
            request.GET.get("token", ""), request.user.pk
        )
    except ingest_services.ImportTokenError as exc:
        raise Http404(str(exc)) from None
    return csv_response(f"rejected-{Path(name).stem}.csv", header, rows)
