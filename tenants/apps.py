from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants and access"

    def ready(self) -> None:
        from tenants import receivers  # noqa: F401  (audit of allauth's account and MFA events)
