"""Pages of broadcasts (Campaigns → Broadcasts) and of message prices, mounted under ``t/<slug:tenant_slug>/``."""

from django.urls import path

from campaigns import broadcast_pages as pages

_one = "campaigns/broadcasts/<int:broadcast_id>/"

urlpatterns = [
    path("campaigns/broadcasts/", pages.broadcast_list_page, name="broadcast_list"),
    path("campaigns/broadcasts/new/", pages.broadcast_create_page, name="broadcast_create"),
    path(_one, pages.broadcast_detail_page, name="broadcast_detail"),
    path(f"{_one}edit/", pages.broadcast_edit_page, name="broadcast_edit"),
    path(f"{_one}delete/", pages.broadcast_delete_page, name="broadcast_delete"),
    path(f"{_one}live/", pages.broadcast_live_fragment, name="broadcast_live"),
    path(f"{_one}start/", pages.broadcast_start_page, name="broadcast_start"),
    path(f"{_one}pause/", pages.broadcast_pause_page, name="broadcast_pause"),
    path(f"{_one}resume/", pages.broadcast_resume_page, name="broadcast_resume"),
    path(f"{_one}cancel/", pages.broadcast_cancel_page, name="broadcast_cancel"),
    path(f"{_one}recipients.csv", pages.broadcast_recipients_csv_page, name="broadcast_recipients_csv"),
    path("settings/campaigns/prices/", pages.message_prices_page, name="message_prices"),
]
