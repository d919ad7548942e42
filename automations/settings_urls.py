from django.urls import path

from automations import auto_resolve_pages, csat_pages, greeting_views, rules_pages, sla_pages, team_pages
from automations import settings_views as views

urlpatterns = [
    path("settings/business-hours/", views.business_hours_list, name="business_hours_list"),
    path("settings/business-hours/new/", views.business_hours_create, name="business_hours_create"),
    path("settings/business-hours/<int:calendar_id>/", views.business_hours_edit, name="business_hours_edit"),
    path(
        "settings/business-hours/<int:calendar_id>/delete/",
        views.business_hours_delete,
        name="business_hours_delete",
    ),
    path("settings/greeting-away/", greeting_views.greeting_list, name="greeting_list"),
    path("settings/greeting-away/<int:inbox_id>/", greeting_views.greeting_edit, name="greeting_edit"),
    path("settings/auto-resolve/", auto_resolve_pages.auto_resolve_list, name="auto_resolve_list"),
    path("settings/auto-resolve/<int:inbox_id>/", auto_resolve_pages.auto_resolve_edit, name="auto_resolve_edit"),
    path("settings/sla/", sla_pages.sla_policy_list_page, name="sla_policy_list"),
    path("settings/sla/new/", sla_pages.sla_policy_create_page, name="sla_policy_create"),
    path("settings/sla/<int:policy_id>/", sla_pages.sla_policy_edit_page, name="sla_policy_edit"),
    path("settings/sla/<int:policy_id>/delete/", sla_pages.sla_policy_delete_page, name="sla_policy_delete"),
    path("settings/teams/", team_pages.team_list_page, name="team_list"),
    path("settings/teams/new/", team_pages.team_create_page, name="team_create"),
    path("settings/teams/<int:team_id>/", team_pages.team_edit_page, name="team_edit"),
    path("settings/teams/<int:team_id>/delete/", team_pages.team_delete_page, name="team_delete"),
    path("settings/auto-assignment/", team_pages.auto_assignment_list, name="auto_assignment_list"),
    path("settings/auto-assignment/<int:inbox_id>/", team_pages.auto_assignment_edit, name="auto_assignment_edit"),
    path("csat/", csat_pages.csat_report, name="csat_report"),
    path("settings/csat/", csat_pages.csat_settings_list, name="csat_settings_list"),
    path("settings/csat/<int:inbox_id>/", csat_pages.csat_settings_edit, name="csat_settings_edit"),
    path("settings/rules/", rules_pages.rules_list, name="rule_list"),
    path("settings/rules/new/", rules_pages.rules_create, name="rule_create"),
    path("settings/rules/<int:rule_id>/", rules_pages.rules_edit, name="rule_edit"),
    path("settings/rules/<int:rule_id>/delete/", rules_pages.rules_delete, name="rule_delete"),
    path("settings/rules/<int:rule_id>/move/", rules_pages.rules_move, name="rule_move"),
    path("settings/rules/<int:rule_id>/runs/", rules_pages.rules_runs, name="rule_runs"),
    path("settings/rules/<int:rule_id>/dry-run/", rules_pages.rules_dry_run, name="rule_dry_run"),
]
