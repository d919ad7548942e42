from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = _("Workspaces and access")

    def ready(self) -> None:
        from tenants import receivers  # noqa: F401  (audit of allauth's account and MFA events)
