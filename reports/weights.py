"""The score weights page (admins): edit weights and windows, preview, save as a new version.

Edit a version's score parameters, preview what the change would do on the current data
(accounts whose scores, surge or stage would change; headline and score KPIs old vs new),
then save it as a new definitions version, optionally made the default. A version is never
edited here, and nothing is recomputed: the default version is what every page, the API
and the nightly recompute use.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from engagement.choices import TouchKind
from funnel.kpis import (
    SCORE_KPIS,
    WEIGHT_MAPS,
    DefinitionsInvalid,
    UnknownDefinitions,
    default_period,
    definitions_resolve,
    definitions_versions,
    weights_preview,
    weights_save,
)
from funnel.models import DefinitionsVersion

from .selectors import HEADLINE_KPIS
from .views import page

#: The scalar parameters, in page order, with their labels.
SCALARS: tuple[tuple[str, str, str], ...] = (
    ("engagement_window_days", "Engagement window (days)", "engagement"),
    ("engagement_default_weight", "Weight of a kind not listed", "engagement"),
    ("relationship_window_days", "Relationship window (days)", "relationship"),
    ("relationship_half_life_days", "Half-life (days)", "relationship"),
    ("relationship_full_scale", "Decayed points that make 100", "relationship"),
    ("relationship_change_points", "Improving/degrading: points", "relationship"),
    ("relationship_change_days", "Improving/degrading: over days", "relationship"),
    ("research_recent_days", "Recent days", "research"),
    ("research_baseline_weeks", "Baseline weeks", "research"),
    ("research_ratio_thresholds", "Ratio thresholds (grades 1, 2, 3)", "research"),
    ("intent_surge_factor", "Surge: score at least × the mean", "surge"),
    ("intent_baseline_weeks", "Surge: baseline weeks", "surge"),
)
WHOLE = {
    "engagement_window_days",
    "relationship_window_days",
    "relationship_change_days",
    "research_recent_days",
    "research_baseline_weeks",
    "intent_baseline_weeks",
}
GROUPS = (
    ("engagement", "Engagement score"),
    ("relationship", "Relationship score"),
    ("research", "Research grade"),
    ("surge", "Intent surge"),
)
LABELS = dict(TouchKind.choices)
#: The parameters the weights page and the weights API edit; the others keep the base's.
EDITABLE: tuple[str, ...] = (
    "engagement_weights",
    "relationship_weights",
    *(name for name, _label, _group in SCALARS),
)


def score_params(version: DefinitionsVersion) -> dict[str, Any]:
    """The weights and windows of ``version`` that the page and the API edit."""
    return {name: version.params.get(name) for name in EDITABLE}


def preview_kpi_ids() -> list[str]:
    """The KPIs a preview compares: each stage's headline, then the score KPIs."""
    return [*HEADLINE_KPIS.values(), *SCORE_KPIS]


def _number(text: str) -> Any:
    """A number from a form cell (``1,5`` too), or the text itself when it is none (the
    parameter check then names the field)."""
    try:
        value = float(text.replace(",", ".")) if text.count(",") == 1 else float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() else value


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


class WeightsForm(forms.Form):
    """One text field per parameter (``engagement_weights.ad_click`` for one weight), so an
    error names the field it belongs to; the values are checked by the definitions' own
    parameter check, the one the admin and ``definitions_derive`` use."""

    base = forms.CharField(widget=forms.HiddenInput)
    previewed = forms.CharField(widget=forms.HiddenInput, required=False)
    name = forms.CharField(label="New version name", max_length=50, required=False)
    note = forms.CharField(
        label="What changed and why", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    make_default = forms.BooleanField(label="Make it the default", required=False)

    def __init__(self, *args, base: DefinitionsVersion, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["base"].initial = base.name
        params = base.params
        for kind in params_kinds("engagement_weights"):
            self.fields[f"engagement_weights.{kind}"] = forms.CharField(
                label=LABELS[kind],
                required=False,
                initial=_text(params["engagement_weights"].get(kind)),
                help_text="Empty: the weight of a kind not listed.",
            )
        for kind in params_kinds("relationship_weights"):
            self.fields[f"relationship_weights.{kind}"] = forms.CharField(
                label=LABELS[kind],
                required=False,
                initial=_text(params["relationship_weights"].get(kind)),
                help_text="Empty: not two-way contact, not counted.",
            )
        for name, label, _group in SCALARS:
            self.fields[name] = forms.CharField(label=label, initial=_text(params.get(name)))

    def groups(self) -> list[dict[str, Any]]:
        """The parameter fields by score, for the template."""
        out = []
        for key, title in GROUPS:
            fields = [self[n] for n, _label, group in SCALARS if group == key]
            weights = [self[n] for n in self.fields if n.startswith(f"{key}_weights.")]
            out.append({"key": key, "title": title, "fields": fields, "weights": weights})
        return out

    def params(self) -> dict[str, Any]:
        """The parameters the form holds, typed (cells that are not numbers kept as text)."""
        data = self.cleaned_data
        out: dict[str, Any] = {}
        for map_name in ("engagement_weights", "relationship_weights"):
            out[map_name] = {
                kind: _number(data[f"{map_name}.{kind}"].strip())
                for kind in params_kinds(map_name)
                if data.get(f"{map_name}.{kind}", "").strip()
            }
        for name, _label, _group in SCALARS:
            text = data.get(name, "").strip()
            if name == "research_ratio_thresholds":
                out[name] = [_number(t.strip()) for t in text.split(",") if t.strip()]
            else:
                out[name] = _number(text)
        return out

    def add_param_errors(self, errors: Mapping[str, str]) -> None:
        """Each message on its field (a whole map's on the form)."""
        for key, message in errors.items():
            self.add_error(key if key in self.fields else None, message)


def params_kinds(map_name: str) -> tuple[str, ...]:
    """The kinds a weight map may name: engagement kinds, or every touch kind."""
    return WEIGHT_MAPS[map_name]


def params_digest(params: Mapping[str, Any]) -> str:
    """What a preview was computed for: saving needs a preview of exactly these values."""
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


@require_http_methods(["GET", "POST"])
def weights_edit(request: HttpRequest) -> HttpResponse:
    """Edit → preview → save. ``?base=NAME`` picks the version to start from (the default
    one otherwise); "Preview" shows the change's effect, "Save" derives the new version."""
    versions = definitions_versions()
    wanted = request.POST.get("base") or request.GET.get("base")
    try:
        base = definitions_resolve(wanted or None)
    except UnknownDefinitions as exc:
        messages.error(request, str(exc))
        base = definitions_resolve(None)
    data = request.POST if request.method == "POST" else None
    form = WeightsForm(data, base=base)
    preview = None
    period = default_period()
    if data is not None and form.is_valid():
        params = form.params()
        digest = params_digest(params)
        try:
            if "save" in request.POST and form.cleaned_data["previewed"] == digest:
                saved = _save(form, base, params)
                if saved is not None:
                    messages.success(request, _saved_message(saved, base))
                    return redirect(f"{request.path}?base={saved.name}")
            elif "save" in request.POST:
                messages.warning(
                    request,
                    "The values changed since the last preview: check this preview, then save.",
                )
            preview = weights_preview(base, params, period, preview_kpi_ids())
            form.data = form.data.copy()
            form.data["previewed"] = digest
        except DefinitionsInvalid as exc:
            form.add_param_errors(exc.errors)
    names = {v.pk: v.name for v in versions}
    return page(
        request,
        "reports/weights.html",
        None,
        {
            "form": form,
            "base": base,
            "versions": [
                (v, names.get(v.derived_from_id, "")) for v in versions
            ],  # derived-from names from the same list: no query per version
            "preview": preview,
            "period": period,
            "hide_filters": True,
        },
    )


def _save(form: WeightsForm, base: DefinitionsVersion, params: dict) -> DefinitionsVersion | None:
    name = form.cleaned_data["name"].strip()
    if not name:
        form.add_error("name", "Name the new version (e.g. v2-forms-heavier) to save it.")
        return None
    if DefinitionsVersion.objects.filter(name=name).exists():
        form.add_error("name", f"A version is already named {name!r}; choose another name.")
        return None
    return weights_save(
        base,
        params,
        name=name,
        note=form.cleaned_data["note"],
        make_default=form.cleaned_data["make_default"],
    )


def _saved_message(saved: DefinitionsVersion, base: DefinitionsVersion) -> str:
    if saved.is_default:
        return (
            f"Saved {saved.name} (from {base.name}) and made it the default: pages, the API "
            f"and the next recompute use it. Results under {base.name} stay as they were "
            f"(?definitions={base.name})."
        )
    return (
        f"Saved {saved.name} (from {base.name}). It is not the default: pages, the API and "
        f"the recompute keep using the default until you make {saved.name} the default "
        f"(here or in the admin); see it with ?definitions={saved.name}."
    )
