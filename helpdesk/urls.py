from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from helpdesk import errors
from helpdesk.i18n import javascript_catalog
from tenants import views as tenant_views

urlpatterns = [
    path("", tenant_views.home, name="home"),
    path("healthz/", tenant_views.healthz, name="healthz"),
    path("jsi18n/<str:language>/", javascript_catalog, name="javascript_catalog"),
    path("workspaces/", tenant_views.workspaces, name="workspaces"),
    path("account/preferences/", tenant_views.account_preferences, name="account_preferences"),
    path("account/language/", tenant_views.account_language, name="account_language"),
    path("account/mfa-required/", tenant_views.mfa_required, name="mfa_required"),
    path("invitations/<str:token>/", tenant_views.invitation_accept, name="invitation_accept"),
    path("accounts/", include("allauth.urls")),
    path("webhooks/payments/", include("payments.webhook_urls")),
    path("webhooks/", include("whatsapp.urls")),
    path("t/<slug:tenant_slug>/", include("tenants.urls")),
    path("t/<slug:tenant_slug>/", include("whatsapp.tenant_urls")),
    path("t/<slug:tenant_slug>/", include("conversations.settings_urls")),
    path("t/<slug:tenant_slug>/", include("conversations.urls")),
    path("t/<slug:tenant_slug>/", include("conversations.attachment_urls")),
    path("t/<slug:tenant_slug>/", include("automations.settings_urls")),
    path("t/<slug:tenant_slug>/", include("payments.urls")),
    path("t/<slug:tenant_slug>/", include("flows.urls")),
    path("t/<slug:tenant_slug>/", include("flows.link_urls")),
    path("t/<slug:tenant_slug>/", include("campaigns.audience_urls")),
    path("t/<slug:tenant_slug>/", include("campaigns.schedule_urls")),
    path("t/<slug:tenant_slug>/", include("campaigns.consent_urls")),
    path("t/<slug:tenant_slug>/", include("campaigns.broadcast_urls")),
    path("api/v1/", include("tenants.api_urls")),
    path("api/v1/", include("conversations.api_urls")),
    path("api/v1/", include("whatsapp.api_urls")),
    path("api/v1/", include("automations.api_urls")),
    path("api/v1/", include("payments.api_urls")),
    path("api/v1/", include("flows.link_api_urls")),
    path("api/v1/", include("flows.api_urls")),
    path("api/v1/", include("campaigns.broadcast_api_urls")),
    path("api/v1/", include("campaigns.audience_api_urls")),
    path("api/v1/", include("campaigns.schedule_api_urls")),
    path("api/v1/", include("campaigns.otp_api_urls")),
    path("api/v1/", include("campaigns.consent_api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    # Swagger UI's start-up script is served by the same view (?script), not inlined, for the CSP.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api_schema", template_name="api/swagger_ui.html"),
        name="api_docs",
    ),
    path(settings.ADMIN_URL, admin.site.urls),
]

handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.page_not_found
handler500 = errors.server_error
