from django.urls import path

from automations import api, auto_resolve_api, csat_api, greeting_api, rules_api, sla_api, teams_api

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
    path(
        "t/<slug:tenant_slug>/greeting-away/<int:inbox_id>/<str:kind>/file/",
        greeting_api.GreetingFileApi.as_view(),
        name="api_greeting_file",
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

urlpatterns += [
    path("t/<slug:tenant_slug>/sla-policies/", sla_api.SlaPolicyListApi.as_view(), name="api_sla_policy_list"),
    path(
        "t/<slug:tenant_slug>/sla-policies/<int:policy_id>/",
        sla_api.SlaPolicyDetailApi.as_view(),
        name="api_sla_policy_detail",
    ),
    path(
        "t/<slug:tenant_slug>/conversations/<int:display_id>/sla/",
        sla_api.ConversationSlaApi.as_view(),
        name="api_conversation_sla",
    ),
    path("t/<slug:tenant_slug>/teams/", teams_api.TeamListCreateApi.as_view(), name="api_team_list"),
    path("t/<slug:tenant_slug>/teams/<int:team_id>/", teams_api.TeamDetailApi.as_view(), name="api_team_detail"),
    path(
        "t/<slug:tenant_slug>/auto-assignment/",
        teams_api.PolicyListApi.as_view(),
        name="api_auto_assignment_list",
    ),
    path(
        "t/<slug:tenant_slug>/auto-assignment/capacities/",
        teams_api.OverallCapacityApi.as_view(),
        name="api_auto_assignment_capacities",
    ),
    path(
        "t/<slug:tenant_slug>/auto-assignment/<int:inbox_id>/",
        teams_api.PolicyDetailApi.as_view(),
        name="api_auto_assignment_detail",
    ),
    path("t/<slug:tenant_slug>/csat/settings/", csat_api.CsatSettingsListApi.as_view(), name="api_csat_settings_list"),
    path(
        "t/<slug:tenant_slug>/csat/settings/<int:inbox_id>/",
        csat_api.CsatSettingsDetailApi.as_view(),
        name="api_csat_settings_detail",
    ),
    path("t/<slug:tenant_slug>/csat/responses/", csat_api.CsatResponseListApi.as_view(), name="api_csat_response_list"),
    path("t/<slug:tenant_slug>/csat/summary/", csat_api.CsatSummaryApi.as_view(), name="api_csat_summary"),
]

_rule = "t/<slug:tenant_slug>/rules/<int:rule_id>/"
urlpatterns += [
    path("t/<slug:tenant_slug>/rules/", rules_api.RuleListCreateApi.as_view(), name="api_rule_list"),
    path(_rule, rules_api.RuleDetailApi.as_view(), name="api_rule_detail"),
    path(f"{_rule}runs/", rules_api.RuleRunsApi.as_view(), name="api_rule_runs"),
    path(f"{_rule}dry-run/", rules_api.RuleDryRunApi.as_view(), name="api_rule_dry_run"),
    path(f"{_rule}move/", rules_api.RuleMoveApi.as_view(), name="api_rule_move"),
]
