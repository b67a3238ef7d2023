from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .definitions import (
    DefinitionsInUse,
    definitions_check_editable,
    definitions_default_set,
    definitions_derive,
    definitions_params_errors,
    shipped_params,
)
from .models import (
    AccountSnapshot,
    AccountStageChange,
    DefinitionsVersion,
    FunnelSnapshot,
    NpsResponse,
    Opportunity,
    RecomputeChunk,
    RecomputeRun,
)


@admin.register(Opportunity)
class OpportunityAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "account",
        "type",
        "status",
        "crm_stage",
        "amount",
        "created_on",
        "closed_on",
        "term_months",
    ]
    list_filter = ["type", "status", "source"]
    search_fields = ["name", "account__name", "external_id", "crm_stage"]
    list_select_related = ["account"]
    raw_id_fields = ["account"]
    date_hierarchy = "closed_on"
    readonly_fields = ["created_at", "updated_at"]
    show_full_result_count = False


@admin.register(NpsResponse)
class NpsResponseAdmin(admin.ModelAdmin):
    list_display = ["responded_on", "account", "stakeholder", "score"]
    list_filter = ["score"]
    search_fields = ["account__name"]
    list_select_related = ["account", "stakeholder"]
    raw_id_fields = ["account", "stakeholder"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Computed rows: shown, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AccountStageChange)
class AccountStageChangeAdmin(ReadOnlyAdmin):
    list_display = ["changed_on", "account", "from_stage", "to_stage"]
    list_filter = ["to_stage", "from_stage"]
    search_fields = ["account__name"]
    list_select_related = ["account"]
    raw_id_fields = ["account"]
    show_full_result_count = False


@admin.register(AccountSnapshot)
class AccountSnapshotAdmin(ReadOnlyAdmin):
    list_display = [
        "date",
        "account",
        "stage",
        "engagement_score",
        "relationship_score",
        "research_grade",
        "intent_surge",
        "open_pipeline",
    ]
    list_filter = ["stage", "intent_surge", "research_grade"]
    search_fields = ["account__name"]
    list_select_related = ["account"]
    raw_id_fields = ["account"]
    date_hierarchy = "date"
    show_full_result_count = False


@admin.register(FunnelSnapshot)
class FunnelSnapshotAdmin(ReadOnlyAdmin):
    list_display = [
        "date",
        "window_days",
        "slice",
        "definitions",
        "revision",
        "reason",
        "created_at",
    ]
    list_filter = ["window_days", "definitions"]
    search_fields = ["slice"]
    date_hierarchy = "date"


class RecomputeChunkInline(admin.TabularInline):
    model = RecomputeChunk
    fields = ["first_id", "last_id", "accounts", "done_at"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False


@admin.register(RecomputeRun)
class RecomputeRunAdmin(ReadOnlyAdmin):
    list_display = ["date", "kind", "status", "started_at", "finished_at", "accounts"]
    list_filter = ["status", "kind"]
    date_hierarchy = "date"
    inlines = [RecomputeChunkInline]


@admin.register(RecomputeChunk)
class RecomputeChunkAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "run", "first_id", "last_id", "accounts", "done_at"]
    list_filter = ["run__kind", "run__status"]
    list_select_related = ["run"]
    show_full_result_count = False


class DefinitionsVersionForm(forms.ModelForm):
    """A version's parameters are checked against the ones the engine reads."""

    class Meta:
        model = DefinitionsVersion
        fields = ["name", "generation", "params", "derived_from", "note"]

    def clean_params(self) -> dict:
        params = self.cleaned_data["params"]
        if not isinstance(params, dict):
            raise forms.ValidationError("Parameters are a JSON object: name -> value.")
        known = set(shipped_params())
        missing, unknown = sorted(known - set(params)), sorted(set(params) - known)
        if missing or unknown:
            raise forms.ValidationError(
                "Parameters must be exactly the engine's: "
                + (f"missing {', '.join(missing)}. " if missing else "")
                + (f"unknown {', '.join(unknown)}." if unknown else "")
            )
        errors = definitions_params_errors(params)
        if errors:  # one message per parameter, each naming it
            raise forms.ValidationError(list(errors.values()))
        return params

    def clean(self) -> dict:
        data = super().clean()
        if self.instance.pk:
            try:
                definitions_check_editable(self.instance)
            except DefinitionsInUse as exc:
                raise forms.ValidationError(str(exc)) from None
        return data


@admin.register(DefinitionsVersion)
class DefinitionsVersionAdmin(admin.ModelAdmin):
    """Versions are derived, never edited once used; the default moves only by the action."""

    form = DefinitionsVersionForm
    list_display = ["name", "generation", "is_default", "used_at", "derived_from", "created_at"]
    list_filter = ["generation", "is_default"]
    readonly_fields = ["is_default", "used_at", "created_at", "updated_at"]
    actions = ["make_default", "derive"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        if obj is not None and obj.used_at is not None:
            return [*self.readonly_fields, "name", "generation", "params", "derived_from"]
        return self.readonly_fields

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return obj is None or (obj.used_at is None and not obj.is_default)

    @admin.action(description="Make the selected version the default (deliberately: one only)")
    def make_default(self, request: HttpRequest, queryset: QuerySet) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version.", messages.ERROR)
            return
        version = queryset.get()
        definitions_default_set(version)
        self.message_user(request, f"{version.name} is now the default definitions version.")

    @admin.action(description="Derive a new version from the selected one (to edit)")
    def derive(self, request: HttpRequest, queryset: QuerySet) -> None:
        for base in queryset:  # a few versions an admin ticked
            name = _free_name(f"{base.name}.1")
            derived = definitions_derive(base, name=name, note=f"Derived from {base.name}.")
            self.message_user(
                request,
                f"Created {derived.name} from {base.name}: edit its parameters, then make it the "
                "default when it should apply.",
            )


def _free_name(name: str) -> str:
    """``name``, or with a further ``.N`` until no version has it (one query)."""
    taken = set(DefinitionsVersion.objects.values_list("name", flat=True))
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name.rsplit('.', 1)[0]}.{n}"
    return candidate
