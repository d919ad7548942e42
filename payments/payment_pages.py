"""The payments' pages ("Manage payments and catalog"): every payment received (found by way of payment,
refund state, problem, day and words, with totals), and the reconciliation of a range of days with its CSV
file. Days are the workspace's; money is shown in the reader's language. A filter that cannot be read is
said in the form, with a 400."""

from __future__ import annotations

import csv
from datetime import date
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext, pgettext_lazy
from django.views.decorators.http import require_GET

from helpdesk.exceptions import ValidationFailed
from helpdesk.money import format_money
from payments.accounts import pix_providers
from payments.models import PaymentAccount, PaymentRequest
from payments.pages import PAGE_SIZE, _csv_cell
from payments.reconciliation import KINDS, Reconciliation, reconciliation, reconciliation_range
from payments.selectors import (
    PAYMENT_STATUSES,
    SEARCH_MAX,
    PaymentFilter,
    PaymentRequestFilter,
    payment_requests_found,
    payments_found,
    payments_totals,
    workspace_zone,
)
from tenants.access import require_perm
from tenants.permissions import Perm


class DayRangeForm(forms.Form):
    since = forms.DateField(label=pgettext_lazy("first day", "From"), required=False)
    until = forms.DateField(label=pgettext_lazy("last day", "to"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("since", _("The first day comes after the last."))
        return data


class PaymentFilterForm(DayRangeForm):
    kind = forms.ChoiceField(
        label=gettext_lazy("Way of payment"),
        required=False,
        choices=[("", gettext_lazy("Any way of payment")), *PaymentAccount.Kind.choices],
    )
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        required=False,
        choices=[("", gettext_lazy("Any status")), *PAYMENT_STATUSES.items()],
    )
    flagged = forms.BooleanField(label=gettext_lazy("Only payments that paid no order"), required=False)
    q = forms.CharField(
        label=gettext_lazy("Order number, payment id or customer"), required=False, max_length=SEARCH_MAX
    )

    def clean_q(self) -> str:
        # A NUL character (which no stored text can hold) is refused by the field's own validator.
        return str(self.cleaned_data.get("q", "")).strip()


def _provider(account: PaymentAccount, providers: dict[str, dict[str, str]]) -> str:
    """The kind of account, and for API Pix the bank's name from the deployment's list."""
    label = str(account.get_kind_display())
    if account.kind == PaymentAccount.Kind.BCB_PIX and account.provider:
        return f"{label} · {providers.get(account.provider, {}).get('name', account.provider)}"
    return label


def _valid(form: forms.Form) -> dict[str, Any]:
    """The fields that could be read (the whole form's clean() may have refused others)."""
    form.is_valid()
    return {name: value for name, value in form.cleaned_data.items() if name not in form.errors}


@require_GET
@require_perm(Perm.MANAGE_PAYMENTS)
def payment_list_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    form = PaymentFilterForm(request.GET)
    data = _valid(form)
    found = PaymentFilter(
        kind=data.get("kind", ""),
        status=data.get("status", ""),
        flagged=True if data.get("flagged") else None,
        query=data.get("q", ""),
        since=data.get("since"),
        until=data.get("until"),
    )
    payments = payments_found(tenant=tenant, found=found)
    page = Paginator(payments, PAGE_SIZE).get_page(request.GET.get("page"))
    providers = pix_providers()
    shown = {
        name: (value.isoformat() if isinstance(value, date) else "1" if value is True else value)
        for name, value in data.items()
        if value
    }
    context = {
        "form": form,
        "page": page,
        "rows": [
            (payment, _provider(payment.account, providers), PAYMENT_STATUSES[payment.refund_state])  # type: ignore[attr-defined]
            for payment in page.object_list
        ],
        "query": urlencode(shown),
        "filtered": bool(shown),
        "totals": payments_totals(payments),
    }
    return render(request, "payments/payments.html", context, status=400 if form.errors else 200)


class PaymentRequestFilterForm(DayRangeForm):
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        required=False,
        choices=[("", gettext_lazy("Any status")), *PaymentRequest.Status.choices],
    )
    q = forms.CharField(label=gettext_lazy("Order number or reference"), required=False, max_length=SEARCH_MAX)

    def clean_q(self) -> str:
        return str(self.cleaned_data.get("q", "")).strip()


@require_GET
@require_perm(Perm.MANAGE_PAYMENTS)
def payment_request_list_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form = PaymentRequestFilterForm(request.GET)
    data = _valid(form)
    found = PaymentRequestFilter(
        status=data.get("status", ""), query=data.get("q", ""), since=data.get("since"), until=data.get("until")
    )
    requests = payment_requests_found(tenant=request.tenant, found=found)  # type: ignore[attr-defined]
    page = Paginator(requests, PAGE_SIZE).get_page(request.GET.get("page"))
    shown = {name: (value.isoformat() if isinstance(value, date) else value) for name, value in data.items() if value}
    context = {"form": form, "page": page, "query": urlencode(shown), "filtered": bool(shown)}
    return render(request, "payments/payment_requests.html", context, status=400 if form.errors else 200)


def _reconciliation(request: HttpRequest) -> tuple[DayRangeForm, Reconciliation | None]:
    tenant = request.tenant  # type: ignore[attr-defined]
    form = DayRangeForm(request.GET)
    if not form.is_valid():
        return form, None
    try:
        since, until = reconciliation_range(
            since=form.cleaned_data.get("since"), until=form.cleaned_data.get("until"), tenant=tenant
        )
    except ValidationFailed as exc:
        form.add_error("since", exc.message)
        return form, None
    return form, reconciliation(tenant=tenant, since=since, until=until)


@require_GET
@require_perm(Perm.MANAGE_PAYMENTS)
def payment_reconciliation_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form, report = _reconciliation(request)
    context: dict[str, Any] = {"form": form, "report": report, "kinds": KINDS}
    if report is not None:
        context["range_query"] = urlencode({"since": report.since.isoformat(), "until": report.until.isoformat()})
        context["sections"] = [
            (kind, label, report.differences[kind], report.counts[kind]) for kind, label in KINDS.items()
        ]
        context["by_kind"] = [(PaymentAccount.Kind(kind).label, totals) for kind, totals in report.by_kind.items()]
    return render(request, "payments/reconciliation.html", context, status=200 if report is not None else 400)


@require_GET
@require_perm(Perm.MANAGE_PAYMENTS)
def payment_reconciliation_csv_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form, report = _reconciliation(request)
    if report is None:
        errors = [str(message) for messages in form.errors.values() for message in messages]
        return HttpResponse(" ".join(errors), status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="reconciliation-{report.since.isoformat()}-{report.until.isoformat()}.csv"'
    )
    writer = csv.writer(response)
    zone = workspace_zone(request.tenant)  # type: ignore[attr-defined]
    writer.writerow(
        [_("difference"), pgettext("sale", "order"), _("when"), _("way of payment"), _("amount"), _("expected"),
         _("reference"), _("provider's payment id"), _("customer"), _("what is wrong"), _("by"), _("note")]
    )  # fmt: skip
    for row in report.rows:
        expected = format_money(row.expected, row.currency) if row.expected is not None else ""
        cells = [KINDS[row.kind], row.order_number, timezone.localtime(row.at, zone).isoformat(), row.account_label,
                 format_money(row.amount, row.currency), expected, row.reference, row.psp_payment_id, row.customer,
                 row.explanation, row.who, row.note]  # fmt: skip
        writer.writerow([_csv_cell(cell) for cell in cells])
    return response
