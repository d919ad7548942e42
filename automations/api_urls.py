from django.urls import path

from automations import api, auto_resolve_api, greeting_api, rules_api

_calendar = "t/<slug:tenant_slug>/business-hours/<int:calendar_id>/"

urlpatterns = [
    path("t/<slug:tenant_slug>/business-hours/", api.CalendarListCreateApi.as_view(), name="api_business_hours_list"),
    path(_calendar, api.CalendarDetailApi.as_view(), name="api_business_hours_detail"),
    path(f"{_calendar}status/", api.CalendarStatusApi.as_view(), name="api_business_hours_status"),
    path(
        "t/<slug:tenant_slug>/greeting-away/", greeting_api.GreetingSettingsListApi.as_view(), name="api_greeting_list"
    ),
    path(
        "t/<slug:tenant_slug>/greeting-away/<int:inbox_id>/",
        greeting_api.GreetingSettingsApi.as_view(),
        name="api_greeting_detail",
    ),
]

urlpatterns += [
    path(
        "t/<slug:tenant_slug>/auto-resolve/",
        auto_resolve_api.AutoResolveListApi.as_view(),
        name="api_auto_resolve_list",
    ),
    path(
        "t/<slug:tenant_slug>/auto-resolve/<int:inbox_id>/",
        auto_resolve_api.AutoResolveDetailApi.as_view(),
        name="api_auto_resolve_detail",
    ),
]

_rule = "t/<slug:tenant_slug>/rules/<int:rule_id>/"
urlpatterns += [
    path("t/<slug:tenant_slug>/rules/", rules_api.RuleListCreateApi.as_view(), name="api_rule_list"),
    path(_rule, rules_api.RuleDetailApi.as_view(), name="api_rule_detail"),
    path(f"{_rule}runs/", rules_api.RuleRunsApi.as_view(), name="api_rule_runs"),
    path(f"{_rule}dry-run/", rules_api.RuleDryRunApi.as_view(), name="api_rule_dry_run"),
]
