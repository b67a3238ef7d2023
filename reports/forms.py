"""The period picker and the report filters, parsed in one place for every page.

Every page keeps ``period`` (a preset) or ``from``/``to`` (a custom range) and
the filters ``tier``, ``program``, ``owner``, ``cohort`` and ``list`` in its query
string, so a view can be bookmarked and shared. ``report_query(request)``
turns them into the KPI engine's ``Period`` and ``Filters``; a bad value
gives a message naming the field and falls back to the default for that
field, so a stale or edited link still shows a page.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.http import HttpRequest, QueryDict
from django.utils import timezone

from abm_site.csvio import DATE_ORDERS, CsvFileError
from accounts.choices import FitGrade
from accounts.selectors import list_names
from funnel.choices import Cohort, Stage
from funnel.kpis import (
    DEFAULT_PRESET,
    PRESETS,
    Filters,
    Period,
    PeriodError,
    definitions_resolve,
    definitions_versions,
    filter_choices,
    period_between,
    preset_period,
)
from ingest.selectors import (
    AUTO,
    IMPORT_KINDS,
    SEPARATOR,
    available_mappings,
    editor_initial,
    editor_targets,
    kind_choices,
    mapping_choices,
    mapping_data,
)
from ingest.services import ImportTokenError, MappingEditError, editor_mapping, upload_load

from .selectors import ends_after_today

#: The query-string keys this module owns; every link between pages carries them.
GLOBAL_KEYS = (
    "period",
    "from",
    "to",
    "tier",
    "program",
    "owner",
    "cohort",
    "list",
    "definitions",
)


class MultiIdField(forms.TypedMultipleChoiceField):
    """Repeated ``?tier=1&tier=2`` ids, checked against the choices loaded for the page."""

    def __init__(self, **kwargs):
        super().__init__(coerce=int, required=False, **kwargs)

    def valid_value(self, value) -> bool:
        return str(value) in {str(k) for k, _ in self.choices}


class ReportQueryForm(forms.Form):
    """Period and filters of every report page (GET)."""

    period = forms.ChoiceField(choices=PRESETS, required=False, label="Period")
    start = forms.DateField(required=False, label="From")
    end = forms.DateField(required=False, label="To")
    tier = MultiIdField(label="Tier")
    program = MultiIdField(label="Program")
    owner = MultiIdField(label="Owner")
    cohort = forms.ChoiceField(
        choices=[("", "Default per KPI"), *Cohort.choices],
        required=False,
        label="Cohort",
    )
    list = forms.IntegerField(required=False, min_value=1, label="List")

    def __init__(self, data: QueryDict, *, tiers, programs, owners):
        # ``from`` is a Python keyword: the form fields are start/end, the URL keys from/to.
        mapped = data.copy()
        for key, name in (("from", "start"), ("to", "end")):
            if key in data:
                mapped.setlist(name, data.getlist(key))
        super().__init__(mapped)
        self.fields["tier"].choices = tiers
        self.fields["program"].choices = programs
        self.fields["owner"].choices = owners


@dataclass
class ReportQuery:
    """The parsed period and filters of a request, and how to link to the same view."""

    period: Period
    filters: Filters
    preset: str
    messages: list[str]
    tiers: list[tuple[int, str]]
    programs: list[tuple[int, str]]
    owners: list[tuple[int, str]]
    extra: list[tuple[str, str]] = field(default_factory=list)
    #: The KPI definitions version the page computes under, and every version (for the picker).
    definitions: Any = None
    versions: list[Any] = field(default_factory=list)
    #: The name of the account list of ``filters.list_id`` (empty without one).
    list_name: str = ""

    @property
    def previous(self) -> Period:
        return self.period.previous()

    def params(self) -> list[tuple[str, str]]:
        """The canonical query-string pairs (only non-defaults)."""
        pairs: list[tuple[str, str]] = []
        if self.preset == "custom":
            pairs += [("from", self.period.start.isoformat()), ("to", self.period.end.isoformat())]
        elif self.preset != DEFAULT_PRESET:
            pairs.append(("period", self.preset))
        for name in ("tier", "program", "owner"):
            pairs += [(name, str(v)) for v in getattr(self.filters, name)]
        if self.filters.cohort:
            pairs.append(("cohort", self.filters.cohort))
        if self.filters.list_id is not None:
            pairs.append(("list", str(self.filters.list_id)))
        if self.definitions is not None and not self.definitions.is_default:
            pairs.append(("definitions", self.definitions.name))
        return pairs

    @property
    def definitions_choices(self) -> list[tuple[str, str, bool]]:
        """(name, label, selected) of every definitions version, the default one marked."""
        chosen = self.definitions.pk if self.definitions is not None else None
        return [
            (v.name, f"{v.name}{' (in force)' if v.is_default else ''}", v.pk == chosen)
            for v in self.versions
        ]

    @property
    def query(self) -> str:
        """``a=1&b=2`` of the period and filters, for links between pages."""
        q = QueryDict(mutable=True)
        for key, value in self.params():
            q.appendlist(key, value)
        return q.urlencode()

    def with_params(self, **extra) -> str:
        """The query plus page-specific keys (None drops a key)."""
        q = QueryDict(mutable=True)
        for key, value in self.params():
            q.appendlist(key, value)
        for key, value in extra.items():
            if isinstance(value, list | tuple):
                q.setlist(key, [str(v) for v in value])
            elif value not in (None, "", False):
                q[key] = "1" if value is True else str(value)
        return q.urlencode()

    @property
    def period_label(self) -> str:
        label = dict(PRESETS).get(self.preset, "")
        dates = f"{self.period.start:%b %-d, %Y} – {self.period.end:%b %-d, %Y}"
        return dates if self.preset == "custom" else f"{label}: {dates}"

    @property
    def preset_choices(self) -> list[tuple[str, str, bool]]:
        return [(k, label, k == self.preset) for k, label in PRESETS]

    @property
    def cohort_choices(self) -> list[tuple[str, str, bool]]:
        current = self.filters.cohort or ""
        return [
            (k, label, k == current) for k, label in ReportQueryForm.base_fields["cohort"].choices
        ]

    def _options(self, kind: str) -> list[tuple[int, str, bool]]:
        chosen = set(getattr(self.filters, kind))
        return [(pk, name, pk in chosen) for pk, name in getattr(self, f"{kind}s")]

    def summary(self, kind: str) -> str:
        ids = getattr(self.filters, kind)
        if not ids:
            return "All"
        if len(ids) == 1:
            return self.name_of(f"{kind}s", ids[0])
        return f"{len(ids)} selected"

    @property
    def filter_groups(self) -> list[tuple[str, str, list, str]]:
        return [
            (kind, label, self._options(kind), self.summary(kind))
            for kind, label in (("tier", "Tier"), ("program", "Program"), ("owner", "Owner"))
        ]

    def name_of(self, kind: str, pk: int) -> str:
        return dict(getattr(self, kind)).get(pk, f"#{pk}")

    @property
    def active_filters(self) -> list[str]:
        """Human labels of the active filters, for the page header."""
        out = []
        for kind, label in (("tier", "tiers"), ("program", "programs"), ("owner", "owners")):
            ids = getattr(self.filters, kind)
            if ids:
                out.append(
                    f"{label.capitalize()}: " + ", ".join(self.name_of(label, i) for i in ids)
                )
        if self.filters.cohort:
            out.append(f"Cohort: {Cohort(self.filters.cohort).label}")
        if self.filters.list_id is not None:
            out.append(f"List: {self.list_name} (its members are the ABM cohort)")
        return out


def report_query(request: HttpRequest, today: dt.date | None = None) -> ReportQuery:
    """Parse the period and filters of ``request.GET``; bad values fall back with a message."""
    tiers, programs, owners = filter_choices()
    form = ReportQueryForm(request.GET, tiers=tiers, programs=programs, owners=owners)
    form.is_valid()
    data, errors = form.cleaned_data, form.errors
    messages: list[str] = []
    for name, errs in errors.items():
        label = {"start": "From", "end": "To"}.get(name, form.fields[name].label)
        shown = ", ".join(repr(v) for v in request.GET.getlist(_url_key(name)))
        messages.append(
            f"{label}: {' '.join(str(e) for e in errs)} (got {shown or 'nothing'}); "
            "showing the default instead."
        )

    preset = data.get("period") or ""
    start, end = data.get("start"), data.get("end")
    has_dates = bool(request.GET.get("from") or request.GET.get("to"))
    if preset and preset != "custom" and start and end:
        # The bar submits the preset and the dates; dates edited by hand win.
        named = preset_period(preset, today)
        if (start, end) != (named.start, named.end):
            preset = "custom"
    if preset == "custom" or (not preset and has_dates and "period" not in errors):
        custom, problem = _custom_period(start, end, errors)
        if problem:
            messages.append(problem)
        if custom is None:
            preset, period = DEFAULT_PRESET, preset_period(DEFAULT_PRESET, today)
        else:
            preset, period = "custom", custom
    else:
        preset = preset or DEFAULT_PRESET
        period = preset_period(preset, today)
    messages.extend(_period_notes(period, today or timezone.localdate()))

    filters = Filters(
        tier=tuple(data.get("tier") or ()),
        program=tuple(data.get("program") or ()),
        owner=tuple(data.get("owner") or ()),
        cohort=data.get("cohort") or None,
        list_id=data.get("list"),
    )
    list_name = ""
    if filters.list_id is not None:  # one query, only when a list is asked for
        list_name = list_names([filters.list_id]).get(filters.list_id, "")
        if not list_name:
            messages.append(
                f"List: no account list has id {filters.list_id} (see /lists/); "
                "showing the target list instead."
            )
            filters = dataclasses.replace(filters, list_id=None)
    extra = [
        (key, value)
        for key in request.GET
        if key not in GLOBAL_KEYS and key not in ("page", "format")
        for value in request.GET.getlist(key)
    ]
    versions = definitions_versions()
    wanted = request.GET.get("definitions", "").strip()
    rules = next((v for v in versions if v.name == wanted), None) if wanted else None
    if wanted and rules is None:
        messages.append(
            f"Definitions: no version named {wanted!r} (versions: "
            f"{', '.join(v.name for v in versions)}); showing the version in force instead."
        )
    if rules is None:
        rules = next((v for v in versions if v.is_default), None) or definitions_resolve()
    return ReportQuery(
        period,
        filters,
        preset,
        messages,
        tiers,
        programs,
        owners,
        extra,
        definitions=rules,
        versions=versions,
        list_name=list_name,
    )


def _period_notes(period: Period, today: dt.date) -> list[str]:
    """What a reader must know about a period before trusting its figures."""
    if not ends_after_today(period, today):
        return []
    return [
        f"This period ends on {period.end:%b} {period.end.day}, {period.end.year}, after today: "
        "the days after today have no data yet, so counts and rates cover only part of it "
        "and changes against the previous period are not like for like."
    ]


def _url_key(name: str) -> str:
    return {"start": "from", "end": "to"}.get(name, name)


def _custom_period(start, end, errors) -> tuple[Period | None, str]:
    """A custom period from the cleaned dates, or a message saying why it cannot be used."""
    if "start" in errors or "end" in errors:
        return None, ""  # the field's own message already says what is wrong
    if start is None or end is None:
        missing = "From" if start is None else "To"
        return None, f"{missing}: a custom period needs both dates; showing the default instead."
    try:
        return period_between(start, end, labels=("From:", "To")), ""
    except PeriodError as exc:
        prefix = "" if exc.message.startswith("From:") else "From/To: "
        return None, f"{prefix}{exc.message}; showing the default instead."


ACCOUNT_SORTS = [
    (f"{sign}{key}", f"{label} ({'descending' if sign else 'ascending'})")
    for key, label in (
        ("name", "Account"),
        ("tier", "Tier"),
        ("grade", "Fit grade"),
        ("engagement", "Engagement score"),
        ("relationship", "Relationship score"),
        ("pipeline", "Open pipeline"),
        ("last_touch", "Last touch"),
    )
    for sign in ("", "-")
]


class AccountListForm(forms.Form):
    """The account list's own filters (the period/tier/owner/program/cohort bar is global)."""

    q = forms.CharField(required=False, max_length=200, label="Search")
    stage = forms.ChoiceField(
        choices=[("", "Any stage"), *Stage.choices], required=False, label="Stage"
    )
    fit_grade = forms.MultipleChoiceField(
        choices=FitGrade.choices, required=False, label="Fit grade"
    )
    is_target = forms.ChoiceField(
        choices=[("", "All"), ("true", "On the target list"), ("false", "Not targeted")],
        required=False,
        label="Target list",
    )
    surging = forms.BooleanField(required=False, label="Surging")
    at_risk = forms.BooleanField(required=False, label="At risk")
    sort = forms.ChoiceField(choices=ACCOUNT_SORTS, required=False, label="Sort")

    def list_params(self) -> dict:
        """The valid, non-empty list filters, for links (sorting, paging, export)."""
        data = getattr(self, "cleaned_data", {})
        return {k: v for k, v in data.items() if v not in ("", None, False, [])}


# --- imports ----------------------------------------------------------------------


class UploadForm(forms.Form):
    file = forms.FileField(label="CSV file")
    kind = forms.ChoiceField(label="What the file holds")
    mapping = forms.ChoiceField(label="Column mapping", initial=AUTO)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = kind_choices()
        self.fields["mapping"].choices = [(m["name"], m["label"]) for m in mapping_choices()]

    def clean(self):
        data = super().clean()
        kind, mapping = data.get("kind"), data.get("mapping")
        if kind and mapping:
            names = [AUTO] + [n for n, _ in available_mappings(kind)]
            if mapping not in names:
                self.add_error(
                    "mapping",
                    f"The '{mapping}' mapping has no profile for {kind}; choose one of: "
                    f"{', '.join(names)}.",
                )
        return data


class RunForm(forms.Form):
    """The token of a previewed upload, usable only by the user it was issued to."""

    token = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, user_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user_id = user_id

    def clean_token(self) -> dict:
        try:
            return upload_load(self.cleaned_data["token"], self.user_id)
        except ImportTokenError as exc:
            raise forms.ValidationError(str(exc)) from None


class MappingEditorForm(forms.Form):
    """The mapping editor of a previewed upload: a field (or none) per column of the file,
    constants, the date order, and the name to save the mapping under.

    Column, constant and date-order inputs are drop-downs but validated as text by
    ``editor_mapping``, so a bad value (from an old page or a script) is named in the
    error and shown again as entered.
    """

    CONSTANT_ROWS = 3

    token = forms.CharField(widget=forms.HiddenInput)
    date_order = forms.CharField(required=False, label="Date order")
    start_from = forms.CharField(required=False, label="Start again from")
    profile_name = forms.SlugField(
        required=False,
        max_length=50,
        label="Profile name",
        help_text="Letters, digits, - and _ (for import_csv --mapping NAME and the API).",
    )
    profile_label = forms.CharField(required=False, max_length=200, label="Description")

    def __init__(self, data=None, *, upload: dict, header: list[str], samples: list[str]):
        self.kind, self.header = upload["k"], header
        self.base = mapping_data(self.kind, upload["m"])
        base_name = upload["m"] if isinstance(upload["m"], str) else self.base.get("name", "")
        self.edited_name = f"{base_name.removesuffix(' (edited)') or 'default'} (edited)"
        try:
            start = editor_initial(self.kind, header, upload["m"])
        except CsvFileError:
            start = {"columns": {}, "constants": {}, "date_order": ""}
        initial: dict[str, Any] = {
            "token": upload.get("token", ""),
            "date_order": start["date_order"],
            "start_from": upload["m"] if isinstance(upload["m"], str) else "",
        }
        for i, target in start["columns"].items():
            initial[f"col_{i}"] = target
        rows = max(self.CONSTANT_ROWS, len(start["constants"]) + 1)
        for j, (name, value) in enumerate(start["constants"].items()):
            initial[f"const_field_{j}"], initial[f"const_value_{j}"] = name, value
        super().__init__(data, initial=initial)
        fields = editor_targets(self.kind)
        combos = {t for t in start["columns"].values() if SEPARATOR in t}
        targets = [("", "— not imported —"), *fields, *((c, c.replace("+", " + ")) for c in combos)]
        self.columns = []
        for i, column in enumerate(header):
            if not column:
                continue
            name = f"col_{i}"
            self.fields[name] = forms.CharField(
                required=False,
                label=column,
                widget=forms.Select(
                    choices=self._keep(name, targets), attrs={"data-autopreview": ""}
                ),
            )
            self.columns.append((self[name], samples[i] if i < len(samples) else ""))
        constant_targets = [("", "—"), *((f, f) for f in IMPORT_KINDS[self.kind].fields)]
        self.constants = []
        for j in range(rows):
            self.fields[f"const_field_{j}"] = forms.CharField(
                required=False,
                label=f"Constant {j + 1}: field",
                widget=forms.Select(choices=self._keep(f"const_field_{j}", constant_targets)),
            )
            self.fields[f"const_value_{j}"] = forms.CharField(
                required=False, max_length=200, label=f"Constant {j + 1}: value"
            )
            self.constants.append((self[f"const_field_{j}"], self[f"const_value_{j}"]))
        orders = [("", "Decided from the whole file"), *DATE_ORDERS.items()]
        self.fields["date_order"].widget = forms.Select(
            choices=self._keep("date_order", orders), attrs={"data-autopreview": ""}
        )
        self.fields["start_from"].widget = forms.Select(
            choices=[(AUTO, "Detect from the header"), *available_mappings(self.kind)]
        )

    def _keep(self, name: str, choices: list) -> list:
        """The choices, plus a posted value that is not one of them (shown as entered)."""
        value = self.data.get(name, "") if self.is_bound else ""
        if value and value not in {v for v, _ in choices}:
            return [*choices, (value, f"{value[:50]} (unknown)")]
        return choices

    def clean(self):
        data = super().clean()
        columns = {
            int(name[4:]): data.get(name, "") for name in self.fields if name.startswith("col_")
        }
        constants = [
            (data.get(f"const_field_{j}", ""), data.get(f"const_value_{j}", ""))
            for j in range(len(self.constants))
        ]
        try:
            data["mapping"] = editor_mapping(
                self.kind,
                self.header,
                self.base,
                columns,
                constants,
                data.get("date_order", ""),
                name=self.edited_name,
            )
        except MappingEditError as exc:
            self.add_errors(exc)
        return data

    def add_errors(self, exc: MappingEditError) -> None:
        for key, message in exc.errors.items():
            self.add_error(None if key == "__all__" else key, message)
