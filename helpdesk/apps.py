from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    """Django's admin with the product's login, second factor and audit (``tenants.admin_site``)."""

    default_site = "tenants.admin_site.StaffAdminSite"
