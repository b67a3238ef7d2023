from django.contrib import admin
from django.utils import timezone

from .models import (
    Account,
    AccountDomain,
    AccountList,
    FitGradeChange,
    Holdout,
    HoldoutAssignment,
    IcpRule,
    ListMembership,
    Owner,
    Stakeholder,
    Tier,
    TierChange,
)
from .services import (
    ICP_FIELDS,
    account_fit_refresh,
    account_targeting_fill,
    holdout_draw,
    icp_rule_save,
    icp_rules_delete,
    list_refresh,
    target_join_day,
)


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = ["name", "rank", "created_at"]
    search_fields = ["name"]
    ordering = ["rank"]


@admin.register(IcpRule)
class IcpRuleAdmin(admin.ModelAdmin):
    """Saving or deleting a rule regrades every account at once (one UPDATE)."""

    list_display = ["__str__", "attribute", "weight", "is_active", "updated_at"]
    list_filter = ["attribute", "is_active"]

    def save_model(self, request, obj: IcpRule, form, change: bool) -> None:
        icp_rule_save(obj)

    def delete_model(self, request, obj: IcpRule) -> None:
        icp_rules_delete(IcpRule.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset) -> None:
        icp_rules_delete(queryset)


class StakeholderInline(admin.TabularInline):
    model = Stakeholder
    extra = 0
    fields = ["name", "email", "title", "buying_role", "known_since"]
    show_change_link = True
    max_num = 200


@admin.register(Owner)
class OwnerAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "user", "created_at"]
    search_fields = ["name", "email", "user__username"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]


class AccountDomainInline(admin.TabularInline):
    model = AccountDomain
    extra = 0
    fields = ["domain"]


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "domain",
        "tier",
        "fit_grade",
        "fit_score",
        "is_target",
        "targeted_on",
        "untargeted_on",
        "owner",
        "churned_on",
    ]
    list_filter = ["is_target", "tier", "fit_grade", "program_type", "needs_recompute", "source"]
    search_fields = ["name", "domain", "external_id"]
    list_select_related = ["tier", "owner"]
    autocomplete_fields = ["owner"]
    readonly_fields = ["fit_score", "fit_grade", "needs_recompute", "created_at", "updated_at"]
    date_hierarchy = "targeted_on"
    show_full_result_count = False
    inlines = [AccountDomainInline, StakeholderInline]

    def save_model(self, request, obj: Account, form, change: bool) -> None:
        """Fill targeting dates as the API does: a new target account joins today, a
        re-targeted one starts a new interval today, an un-targeted one leaves today."""
        if not change and obj.is_target and obj.targeted_on is None:
            obj.targeted_on = target_join_day(timezone.localdate(), obj.untargeted_on)
        elif change and "is_target" in form.changed_data:
            account_targeting_fill(obj, form.initial.get("is_target", True), form.changed_data)
        super().save_model(request, obj, form, change)
        if not change or ICP_FIELDS.intersection(form.changed_data):  # graded as the API does
            account_fit_refresh(Account.objects.filter(pk=obj.pk))


@admin.register(Stakeholder)
class StakeholderAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "account", "title", "buying_role", "known_since"]
    list_filter = ["buying_role"]
    search_fields = ["name", "email", "account__name", "external_id"]
    list_select_related = ["account"]
    autocomplete_fields = ["account"]
    readonly_fields = ["created_at", "updated_at"]
    show_full_result_count = False


@admin.register(AccountDomain)
class AccountDomainAdmin(admin.ModelAdmin):
    """Alias domains (also edited inline on each account): e-mails from them join the account."""

    list_display = ["domain", "account"]
    search_fields = ["domain", "account__name"]
    list_select_related = ["account"]
    raw_id_fields = ["account"]


class ListMembershipInline(admin.TabularInline):
    """Membership intervals: joined on (empty: always), left on (empty: still a member)."""

    model = ListMembership
    extra = 0
    fields = ["account", "joined_on", "left_on"]
    raw_id_fields = ["account"]
    max_num = 500

    def has_add_permission(self, request, obj=None) -> bool:
        return obj is None or (not obj.is_target and obj.kind == "static")

    def has_change_permission(self, request, obj=None) -> bool:
        return self.has_add_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.has_add_permission(request, obj)


@admin.register(AccountList)
class AccountListAdmin(admin.ModelAdmin):
    """Named account lists. The target list follows the accounts' targeting fields and a
    dynamic list its criteria: their memberships are read-only here."""

    list_display = ["name", "kind", "is_target", "owner", "updated_at"]
    list_filter = ["kind", "is_target"]
    search_fields = ["name", "description"]
    readonly_fields = ["is_target", "created_at", "updated_at"]
    autocomplete_fields = ["owner"]
    inlines = [ListMembershipInline]

    def has_delete_permission(self, request, obj=None) -> bool:
        return obj is None or not obj.is_target

    def save_related(self, request, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if form.instance.kind == "dynamic":
            list_refresh(form.instance)


class _ReadOnly(admin.ModelAdmin):
    """History rows kept by the database (triggers) and the list pages: read here, written
    through their list or the account."""

    def has_add_permission(self, request) -> bool:  # noqa: ANN001
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False

    def has_delete_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False


@admin.register(ListMembership)
class ListMembershipAdmin(_ReadOnly):
    """Every membership interval, filterable by list: who was on a list, and when."""

    list_display = ("account", "list", "joined_on", "left_on")
    list_filter = ("list",)
    search_fields = ("account__name", "account__domain")
    list_select_related = ("account", "list")


@admin.register(TierChange)
class TierChangeAdmin(_ReadOnly):
    """Each account's tier since a date, as the tier-split KPIs read it."""

    list_display = ("account", "tier", "effective_on")
    list_filter = ("tier",)
    search_fields = ("account__name", "account__domain")
    list_select_related = ("account", "tier")


@admin.register(FitGradeChange)
class FitGradeChangeAdmin(_ReadOnly):
    """Each account's ICP fit grade since a date, as TAM and engaged share of TAM read it."""

    list_display = ("account", "grade", "effective_on")
    list_filter = ("grade",)
    search_fields = ("account__name", "account__domain")
    list_select_related = ("account",)


@admin.register(Holdout)
class HoldoutAdmin(admin.ModelAdmin):
    """A list's control group: added by drawing it (the service), never edited; delete it
    and add another to draw again."""

    list_display = ("list", "share", "seed", "drawn_on")
    list_select_related = ("list",)
    fields = ("list", "share", "seed", "drawn_on")

    def has_change_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False

    def save_model(self, request, obj, form, change: bool) -> None:  # noqa: ANN001
        drawn = holdout_draw(obj.list, obj.share, obj.seed, obj.drawn_on)
        obj.pk = drawn.pk


@admin.register(HoldoutAssignment)
class HoldoutAssignmentAdmin(_ReadOnly):
    """Every account of each holdout draw: held out or treated, and its stratum then."""

    list_display = ("account", "holdout", "held_out", "tier", "fit_grade")
    list_filter = ("held_out", "holdout")
    search_fields = ("account__name", "account__domain")
    list_select_related = ("account", "holdout__list", "tier")
