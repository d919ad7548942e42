"""Calendars built through the real services."""

from __future__ import annotations

from datetime import date, time

from django.test import Client

from automations.models import BusinessCalendar
from automations.selectors import calendar_get
from automations.services import CalendarSpec, DateSpec, WeeklySpec, calendar_create
from tenants.models import Membership, Tenant
from tenants.services import api_token_create
from tests.conversations.factories import make_role
from tests.factories import owner_of

OFFICE_WEEK = tuple(
    WeeklySpec(day, start, end) for day in range(5) for start, end in ((time(9), time(12)), (time(13), time(18)))
)


def make_calendar(
    actor: Membership,
    *,
    name: str = "Office hours",
    time_zone: str = "America/Sao_Paulo",
    weekly: tuple[WeeklySpec, ...] = OFFICE_WEEK,
    country: str = "BR",
    subdivision: str = "",
    holidays: bool = True,
    dates: tuple[DateSpec, ...] = (),
    inbox_ids: tuple[int, ...] = (),
    mode: str = BusinessCalendar.Mode.SCHEDULE,
) -> BusinessCalendar:
    calendar = calendar_create(
        actor=actor,
        spec=CalendarSpec(
            name=name,
            time_zone=time_zone,
            mode=mode,
            weekly=weekly,
            holidays_enabled=holidays,
            holiday_country=country,
            holiday_subdivision=subdivision,
            dates=dates,
            inbox_ids=inbox_ids,
        ),
    )
    return calendar_get(tenant=actor.tenant_id, calendar_id=calendar.pk)


def christmas_eve(year: int = 2026) -> DateSpec:
    return DateSpec(date(year, 12, 24), "Christmas Eve", ((time(9), time(13)),))


def signed_in(membership: Membership) -> Client:
    """A browser signed in as the member."""
    client = Client()
    client.force_login(membership.user)
    return client


def token_client(tenant: Tenant, perms: list[str]) -> Client:
    """An API client with a token whose role holds exactly ``perms``."""
    _token, raw = api_token_create(actor=owner_of(tenant), name="Robot", role=make_role(tenant, perms))
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
