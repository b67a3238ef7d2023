from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _install_data_version(sender, using: str = "default", **kwargs) -> None:
    from .kpis import version

    version.install(using)


class FunnelConfig(AppConfig):
    name = "funnel"
    verbose_name = "Funnel"

    def ready(self) -> None:
        # After every migrate, like the roles: tables added later get their trigger too.
        post_migrate.connect(
            _install_data_version, sender=self, dispatch_uid="funnel_install_data_version"
        )
