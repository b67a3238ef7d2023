from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender, using="default", **kwargs) -> None:
    from .roles import sync_role_permissions

    if sender.name == "abm_site":
        sync_role_permissions(using=using)


class AbmSiteConfig(AppConfig):
    name = "abm_site"
    verbose_name = "Site and users"

    def ready(self) -> None:
        from . import signals  # noqa: F401 - connects the session and token receivers

        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="abm_site_sync_roles")
