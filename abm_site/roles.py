"""The three roles as groups, and the model permissions each one holds.

Called by the roles data migration and after every ``migrate`` so models
added later get their permissions in the groups too.
"""

from django.apps import apps as global_apps

DOMAIN_APPS = ("accounts", "engagement", "funnel")
#: Rows the recompute writes; nobody edits them by hand.
COMPUTED_MODELS = {
    "accountsnapshot",
    "funnelsnapshot",
    "accountstagechange",
    "recomputerun",
    "recomputechunk",
    "stagecheckpoint",
    "tierchange",  # written by a database trigger on every tier change
    "fitgradechange",  # written by a database trigger on every fit-grade change
    "holdoutassignment",  # written by the holdout draw
}
#: Settings that change numbers: only admins write them (the KPI definitions versions).
ADMIN_MODELS = {"definitionsversion"}
ROLES = ("viewer", "editor", "admin")


def sync_role_permissions(apps=global_apps, using: str = "default") -> None:
    """Create the groups if missing and set their permissions (idempotent)."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True  # historical app configs need this to create perms
        create_permissions(app_config, verbosity=0, apps=apps, using=using)

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    domain = Permission.objects.using(using).filter(content_type__app_label__in=DOMAIN_APPS)
    viewer = domain.filter(codename__startswith="view_")
    editor = domain.exclude(
        content_type__model__in=COMPUTED_MODELS | ADMIN_MODELS,
        codename__regex=r"^(add|change|delete)_",
    )
    groups = {name: Group.objects.using(using).get_or_create(name=name)[0] for name in ROLES}
    groups["viewer"].permissions.set(viewer)
    groups["editor"].permissions.set(editor)
    groups["admin"].permissions.set(Permission.objects.using(using).all())
