"""What the CSAT page and API show: the ratings, filtered, and their figures.

Filters: a date range (days in the workspace's time zone, both included), an inbox, an agent and a team (the
conversation's when its survey went out), a rating. The figures:

- **responses**: the ratings listed (answered in the range, every filter applied);
- **score**: the share of them rated 4 or 5, in percent (one decimal, rounded half to even);
- **average**: their mean rating (two decimals);
- **surveys sent**: surveys that went out in the range (interactive or template) for the inbox, agent and
  team filtered (a rating filters no survey), and **response rate**: the share of those that were answered;
- **not sent**: surveys of the range not sent because the reply window was closed, or refused by the channel.

Figures are exact decimals (never floats); a figure with nothing to count is None ("—").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import ROUND_HALF_EVEN, Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from automations.models import CsatResponse, CsatSurvey
from tenants.models import Tenant

Status = CsatSurvey.Status
SENT = (Status.SENT, Status.TEMPLATE)


@dataclass(frozen=True, kw_only=True)
class CsatFilters:
    date_from: date | None = None
    date_to: date | None = None
    inbox_id: int | None = None
    agent_id: int | None = None
    team_id: int | None = None
    rating: int | None = None


@dataclass(frozen=True, kw_only=True)
class CsatSummary:
    responses: int
    satisfied: int
    score: Decimal | None
    average: Decimal | None
    surveys_sent: int
    answered: int
    response_rate: Decimal | None
    not_sent_window_closed: int
    not_sent_failed: int


def _range(field: str, filters: CsatFilters, tenant: Tenant) -> Q:
    """The days of the range, in the workspace's time zone."""
    zone = ZoneInfo(tenant.timezone)
    q = Q()
    if filters.date_from:
        q &= Q(**{f"{field}__gte": timezone.make_aware(datetime.combine(filters.date_from, time.min), zone)})
    if filters.date_to:
        q &= Q(**{f"{field}__lte": timezone.make_aware(datetime.combine(filters.date_to, time.max), zone)})
    return q


def _who(filters: CsatFilters, prefix: str = "") -> Q:
    q = Q()
    if filters.inbox_id is not None:
        q &= Q(**{f"{prefix}inbox_id": filters.inbox_id})
    if filters.agent_id is not None:
        q &= Q(**{f"{prefix}assignee_id": filters.agent_id})
    if filters.team_id is not None:
        q &= Q(**{f"{prefix}team_id": filters.team_id})
    return q


def csat_response_list(*, tenant: Tenant, filters: CsatFilters) -> QuerySet[CsatResponse]:
    """The workspace's ratings matching ``filters``, newest first."""
    qs = CsatResponse.objects.filter(tenant_id=tenant.pk).filter(_range("responded_at", filters, tenant), _who(filters))
    if filters.rating is not None:
        qs = qs.filter(rating=filters.rating)
    return qs.select_related("inbox", "assignee", "team", "conversation").order_by("-responded_at", "-id")


def _ratio(part: int, whole: int, places: str) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal(places), rounding=ROUND_HALF_EVEN)


def csat_summary(*, tenant: Tenant, filters: CsatFilters) -> CsatSummary:
    """The figures of the ratings and surveys ``filters`` select (two queries)."""
    figures = csat_response_list(tenant=tenant, filters=filters).aggregate(
        n=Count("id"), satisfied=Count("id", filter=Q(rating__gte=4)), total=Sum("rating")
    )
    surveys = (
        CsatSurvey.objects.filter(tenant_id=tenant.pk)
        .filter(_range("created_at", filters, tenant), _who(filters))
        .aggregate(
            sent=Count("id", filter=Q(status__in=SENT)),
            answered=Count("id", filter=Q(status__in=SENT, response__isnull=False)),
            window_closed=Count("id", filter=Q(status=Status.WINDOW_CLOSED)),
            failed=Count("id", filter=Q(status=Status.FAILED)),
        )
    )
    n, satisfied = figures["n"], figures["satisfied"]
    rate = _ratio(surveys["answered"] * 100, surveys["sent"], "0.1")
    return CsatSummary(
        responses=n,
        satisfied=satisfied,
        score=_ratio(satisfied * 100, n, "0.1"),
        average=_ratio(figures["total"] or 0, n, "0.01"),
        surveys_sent=surveys["sent"],
        answered=surveys["answered"],
        response_rate=rate,
        not_sent_window_closed=surveys["window_closed"],
        not_sent_failed=surveys["failed"],
    )


def csat_not_sent_list(*, tenant: Tenant, filters: CsatFilters, limit: int = 50) -> list[CsatSurvey]:
    """The latest surveys of the range that were not sent, with why (the page lists them)."""
    return list(
        CsatSurvey.objects.filter(tenant_id=tenant.pk)
        .filter(_range("created_at", filters, tenant), _who(filters))
        .exclude(status__in=SENT)
        .select_related("inbox", "conversation", "assignee")
        .order_by("-created_at", "-id")[:limit]
    )
