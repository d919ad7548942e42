"""The catalog's pages: the products (search, visible or hidden, a page at a time), a product's form with
the price written as people write money in their language ("25,00"), and deleting. Guarded by "Manage
payments and catalog"; every change goes through ``payments.catalog``."""

from __future__ import annotations

import csv
import logging
from datetime import date
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from conversations.selectors import conversation_get, conversation_list
from helpdesk.exceptions import ApplicationError, ValidationFailed
from payments import accounts, catalog, catalog_sync, imports, orders, refunds
from payments import requests as payment_requests
from payments.models import (
    CATEGORY_MAX,
    DESCRIPTION_MAX,
    IMAGE_URL_MAX,
    NAME_MAX,
    ORDER_DESCRIPTION_MAX,
    ORDER_LINES_MAX,
    RETAILER_ID_MAX,
    Order,
    Payment,
    PaymentAccount,
    Product,
    ProductImport,
    Refund,
    UnreadNotification,
)
from payments.money import amount_input, amount_parse
from payments.orders import MANUAL_STATUSES, TRANSITIONS
from payments.selectors import (
    SEARCH_MAX,
    OrderFilter,
    order_get,
    orders_found,
    orders_totals,
    product_get,
    products_found,
)
from tenants import audit_display
from tenants.access import require_perm
from tenants.models import AuditLogEntry
from tenants.permissions import Perm

logger = logging.getLogger(__name__)
PAGE_SIZE = 50


class ProductForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=NAME_MAX)
    retailer_id = forms.CharField(
        label=gettext_lazy("SKU"),
        max_length=RETAILER_ID_MAX,
        help_text=gettext_lazy("The product's code in the WhatsApp catalog: letters, digits, dots, dashes."),
    )
    price = forms.CharField(label=gettext_lazy("Price (R$)"), max_length=20)
    description = forms.CharField(
        label=gettext_lazy("Description"),
        max_length=DESCRIPTION_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    category = forms.CharField(label=gettext_lazy("Category"), max_length=CATEGORY_MAX, required=False)
    image_url = forms.CharField(
        label=gettext_lazy("Image address"),
        max_length=IMAGE_URL_MAX,
        required=False,
        help_text=gettext_lazy("An https:// address of the picture; WhatsApp shows it in the catalog."),
    )
    availability = forms.ChoiceField(label=gettext_lazy("Availability"), choices=Product.Availability.choices)
    visible = forms.BooleanField(label=gettext_lazy("Visible to customers and agents"), required=False, initial=True)

    def __init__(self, *args: Any, product: Product | None, **kwargs: Any) -> None:
        if product is not None:
            kwargs["initial"] = {
                "name": product.name,
                "retailer_id": product.retailer_id,
                "price": amount_input(product.price),
                "description": product.description,
                "category": product.category,
                "image_url": product.image_url,
                "availability": product.availability,
                "visible": product.visible,
            }
        super().__init__(*args, **kwargs)
        self.fields["price"].help_text = _("Such as %(example)s.") % {"example": amount_input(2500)}

    def clean_price(self) -> int:
        try:
            return amount_parse(self.cleaned_data["price"])
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from None

    def spec(self) -> catalog.ProductSpec:
        data = self.cleaned_data
        return catalog.ProductSpec(
            retailer_id=data["retailer_id"],
            name=data["name"],
            price=data["price"],
            description=data.get("description", ""),
            image_url=data.get("image_url", ""),
            availability=data["availability"],
            visible=bool(data.get("visible")),
            category=data.get("category", ""),
        )

    def add_service_error(self, exc: ApplicationError) -> None:
        fields = [name for name in exc.details if name in self.fields] if isinstance(exc.details, dict) else []
        self.add_error(fields[0] if fields else None, exc.message)


@require_GET
@require_perm(Perm.MANAGE_PAYMENTS)
def product_list_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    # A NUL character can be in no stored text (PostgreSQL refuses it): it is left out of the search.
    query = request.GET.get("q", "").replace("\x00", "").strip()[:SEARCH_MAX]
    shown = request.GET.get("visible", "")
    products = products_found(
        tenant_id=request.tenant.pk,  # type: ignore[attr-defined]
        query=query,
        visible={"1": True, "0": False}.get(shown),
    ).order_by("name", "id")
    page = Paginator(products, PAGE_SIZE).get_page(request.GET.get("page"))
    tenant_id = request.tenant.pk  # type: ignore[attr-defined]
    context = {"page": page, "query": query, "shown": shown, **_sync_context(tenant_id)}
    return render(request, "payments/products.html", context)


SYNC_REASONS = {
    "no_catalog": gettext_lazy("No catalog ID is set for this number (Settings → WhatsApp)."),
    "catalog_linked_elsewhere": gettext_lazy(
        "Another catalog is connected to this WhatsApp Business Account at Meta: disconnect it in Commerce "
        "Manager, or set its ID for this number."
    ),
    "catalog_refused": gettext_lazy("Meta did not connect the catalog to the WhatsApp Business Account."),
    "meta_error": gettext_lazy("Meta refused the sync."),
    "unconfirmed": gettext_lazy("WhatsApp did not say in time whether it applied the catalog."),
    "inbox_gone": gettext_lazy("The inbox no longer exists."),
    "error": gettext_lazy("The sync failed unexpectedly."),
}
ERRORS_SHOWN = 50


def _sync_context(tenant_id: int) -> dict[str, Any]:
    """The catalog's last sync to the channels' catalogs and the products they refused, for the catalog's page."""
    last = catalog_sync.catalog_sync_last(tenant_id=tenant_id)
    outcomes = []
    for outcome in last.outcomes if last is not None else []:
        reason = outcome.get("reason") or ""
        outcomes.append({**outcome, "reason_text": SYNC_REASONS.get(reason, "") if reason else ""})
    refused = catalog_sync.products_not_synced(tenant_id=tenant_id)
    return {
        "sync": last,
        "sync_outcomes": outcomes,
        "sync_refused": refused[:ERRORS_SHOWN],
        "sync_refused_more": max(refused.count() - ERRORS_SHOWN, 0),
        "sync_inboxes": bool(catalog_sync.catalog_inboxes(tenant_id=tenant_id)),
    }


@require_POST
@require_perm(Perm.MANAGE_PAYMENTS)
def catalog_sync_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    catalog_sync.catalog_sync_start(actor=request.membership, tenant=request.tenant)  # type: ignore[attr-defined]
    messages.success(request, _("The catalog is being synced with WhatsApp."))
    return redirect("product_list", tenant_slug=tenant_slug)


def _save(request: HttpRequest, form: ProductForm, product: Product | None) -> Product | None:
    actor = request.membership  # type: ignore[attr-defined]
    try:
        if product is None:
            return catalog.product_create(actor=actor, tenant=request.tenant, spec=form.spec(), request=request)  # type: ignore[attr-defined]
        return catalog.product_update(actor=actor, product=product, spec=form.spec(), request=request)
    except ApplicationError as exc:
        form.add_service_error(exc)
        return None


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_PAYMENTS)
def product_create_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form = ProductForm(request.POST if request.method == "POST" else None, product=None)
    if request.method == "POST" and form.is_valid():
        product = _save(request, form, None)
        if product is not None:
            messages.success(request, _("Product %(name)s added.") % {"name": product.name})
            return redirect("product_list", tenant_slug=tenant_slug)
    status = 400 if request.method == "POST" else 200
    return render(request, "payments/product_form.html", {"form": form, "product": None}, status=status)


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_PAYMENTS)
def product_edit_page(request: HttpRequest, tenant_slug: str, product_id: int) -> HttpResponse:
    product = product_get(tenant_id=request.tenant.pk, product_id=product_id)  # type: ignore[attr-defined]
    form = ProductForm(request.POST if request.method == "POST" else None, product=product)
    if request.method == "POST" and form.is_valid():
        saved = _save(request, form, product)
        if saved is not None:
            messages.success(request, _("Product %(name)s saved.") % {"name": saved.name})
            return redirect("product_list", tenant_slug=tenant_slug)
    status = 400 if request.method == "POST" else 200
    return render(request, "payments/product_form.html", {"form": form, "product": product}, status=status)


@require_POST
@require_perm(Perm.MANAGE_PAYMENTS)
def product_delete_page(request: HttpRequest, tenant_slug: str, product_id: int) -> HttpResponse:
    product = product_get(tenant_id=request.tenant.pk, product_id=product_id)  # type: ignore[attr-defined]
    name = product.name
    catalog.product_delete(actor=request.membership, product=product, request=request)  # type: ignore[attr-defined]
    messages.success(request, _("Product %(name)s deleted.") % {"name": name})
    return redirect("product_list", tenant_slug=tenant_slug)


# --- importing a CSV file -----------------------------------------------------------------------------


class ImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy(
            "One product per line, the first line naming the columns: sku, name, price (with its cents, such as "
            "25,00), and optionally description, category, image_url, availability, visible. Products are matched "
            "by SKU: importing a file again changes them and adds no duplicates. At most 10,000 lines, 5 MB."
        ),
    )


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_PAYMENTS)
def product_import_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > imports.FILE_MAX_BYTES:
            form.add_error("file", _("The file is larger than 5 MB."))
        else:
            try:
                job = imports.import_start(
                    actor=request.membership,  # type: ignore[attr-defined]
                    tenant=request.tenant,  # type: ignore[attr-defined]
                    filename=upload.name or "",
                    data=upload.read(),
                    request=request,
                )
            except ApplicationError as exc:
                form.add_error("file", exc.message)
            else:
                return redirect("product_import_detail", tenant_slug=tenant_slug, import_id=job.pk)
    recent = ProductImport.objects.filter(tenant=request.tenant).select_related("created_by").order_by("-id")[:10]  # type: ignore[attr-defined]
    status = 400 if request.method == "POST" else 200
    return render(request, "payments/product_import.html", {"form": form, "recent": recent}, status=status)


def _import(request: HttpRequest, import_id: int) -> ProductImport:
    job = ProductImport.objects.filter(tenant=request.tenant, pk=import_id).defer("content").first()  # type: ignore[attr-defined]
    if job is None:
        raise Http404("No such import.")
    return job


@require_GET
@require_perm(Perm.MANAGE_PAYMENTS)
def product_import_detail_page(request: HttpRequest, tenant_slug: str, import_id: int) -> HttpResponse:
    job = _import(request, import_id)
    finished = job.status in (ProductImport.Status.DONE, ProductImport.Status.FAILED)
    return render(
        request,
        "payments/product_import_detail.html",
        {
            "job": job,
            "finished": finished,
            "errors": imports.import_errors(job)[:100],
            "more_errors": max(len(job.errors) - 100, 0),
        },
    )


def _csv_cell(value: object) -> str:
    # A spreadsheet runs a cell starting with these as a formula: the report is data, never code.
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@require_GET
@require_perm(Perm.MANAGE_PAYMENTS)
def product_import_errors_page(request: HttpRequest, tenant_slug: str, import_id: int) -> HttpResponse:
    job = _import(request, import_id)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
    writer = csv.writer(response)
    writer.writerow([_("line"), "sku", _("error")])
    for line, sku, message in imports.import_errors(job):
        writer.writerow([line, _csv_cell(sku), _csv_cell(message)])
    return response


# --- orders ------------------------------------------------------------------------------------------------


def _day(text: str) -> date | None:
    """A day written as YYYY-MM-DD (what a date field sends), or None."""
    try:
        return parse_date(text)
    except ValueError:
        return None


def _order_filter(request: HttpRequest) -> tuple[OrderFilter, dict[str, str]]:
    """The list's filter from the query string: what cannot be read is left out (and said in the form)."""
    raw = {
        name: request.GET.get(name, "").replace("\x00", "").strip()[:SEARCH_MAX]
        for name in ("status", "q", "since", "until")
    }
    status = raw["status"] if raw["status"] in Order.Status.values else ""
    since, until = _day(raw["since"]), _day(raw["until"])
    shown = {
        **raw,
        "status": status,
        "since": since.isoformat() if since else "",
        "until": until.isoformat() if until else "",
    }
    return OrderFilter(status=status, query=raw["q"], since=since, until=until), shown


@require_GET
@require_perm(Perm.REPLY)
def order_list_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    found, shown = _order_filter(request)
    orders = orders_found(membership=request.membership, found=found)  # type: ignore[attr-defined]
    page = Paginator(orders, PAGE_SIZE).get_page(request.GET.get("page"))
    query = urlencode({name: value for name, value in shown.items() if value})
    context = {
        "page": page,
        "shown": shown,
        "query": query,
        "totals": orders_totals(orders),
        "statuses": Order.Status.choices,
    }
    return render(request, "payments/orders.html", context)


def _order_context(request: HttpRequest, order: Order) -> dict[str, Any]:
    membership = request.membership  # type: ignore[attr-defined]
    history = AuditLogEntry.objects.filter(
        tenant_id=order.tenant_id, target_type=order._meta.label_lower, target_id=str(order.pk)
    ).order_by("id")
    return {
        "order": order,
        "lines": list(order.lines.all()),
        "history": audit_display.audit_rows(tenant_id=order.tenant_id, entries=history),
        "next_statuses": [(s, Order.Status(s).label) for s in MANUAL_STATUSES if s in TRANSITIONS[order.status]],
        "can_mark_paid": membership.has_perm(Perm.MANAGE_PAYMENTS) and Order.Status.PAID in TRANSITIONS[order.status],
        "payment_requests": list(order.payment_requests.select_related("account").order_by("-id")),
        "payments": [
            (payment, refunds.refundable(payment), amount_input(refunds.refundable(payment)))
            for payment in Payment.objects.filter(request__order=order).select_related("account").order_by("id")
        ],
        "refunds": list(Refund.objects.filter(payment__request__order=order).order_by("id")),
        "can_refund": membership.has_perm(Perm.MANAGE_PAYMENTS),
        "accounts": list(PaymentAccount.objects.filter(tenant_id=order.tenant_id, enabled=True).order_by("kind"))
        if order.status in (Order.Status.PENDING, Order.Status.AWAITING_PAYMENT) and order.conversation_id
        else [],
        "conversation_visible": order.conversation_id is not None
        and conversation_list(membership=membership).filter(pk=order.conversation_id or 0).exists(),
    }


@require_GET
@require_perm(Perm.REPLY)
def order_detail_page(request: HttpRequest, tenant_slug: str, number: int) -> HttpResponse:
    order = order_get(membership=request.membership, number=number)  # type: ignore[attr-defined]
    return render(request, "payments/order_detail.html", _order_context(request, order))


@require_POST
@require_perm(Perm.REPLY)
def order_status_page(request: HttpRequest, tenant_slug: str, number: int) -> HttpResponse:
    order = order_get(membership=request.membership, number=number)  # type: ignore[attr-defined]
    try:
        if request.POST.get("status") == Order.Status.PAID:
            payment_requests.payment_mark_received(
                actor=request.membership,  # type: ignore[attr-defined]
                order=order,
                note=request.POST.get("note", ""),
                request=request,
            )
        else:
            orders.order_status_set(
                actor=request.membership,  # type: ignore[attr-defined]
                order=order,
                status=request.POST.get("status", ""),
                request=request,
            )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("order_detail", tenant_slug=tenant_slug, number=number)


@require_POST
@require_perm(Perm.REPLY)
def order_payment_request_page(request: HttpRequest, tenant_slug: str, number: int) -> HttpResponse:
    order = order_get(membership=request.membership, number=number)  # type: ignore[attr-defined]
    try:
        payment_requests.payment_request_create(
            actor=request.membership,  # type: ignore[attr-defined]
            order=order,
            kind=request.POST.get("kind", ""),
            request=request,
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Payment request sent to the customer."))
    return redirect("order_detail", tenant_slug=tenant_slug, number=number)


@require_POST
@require_perm(Perm.MANAGE_PAYMENTS)
def order_refund_page(request: HttpRequest, tenant_slug: str, number: int) -> HttpResponse:
    order = order_get(membership=request.membership, number=number)  # type: ignore[attr-defined]
    payment_id = request.POST.get("payment", "")
    payment = (
        Payment.objects.filter(request__order=order, pk=int(payment_id)).select_related("account").first()
        if payment_id.isdigit() and len(payment_id) <= 18
        else None
    )
    try:
        if payment is None:
            raise ValidationFailed(_("Choose a payment of this order."))
        refunds.payment_refund(
            actor=request.membership,  # type: ignore[attr-defined]
            payment=payment,
            amount=amount_parse(request.POST.get("amount", "")),
            reason=request.POST.get("reason", ""),
            request=request,
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Refund requested."))
    return redirect("order_detail", tenant_slug=tenant_slug, number=number)


class OrderForm(forms.Form):
    description = forms.CharField(
        label=gettext_lazy("Description"),
        max_length=ORDER_DESCRIPTION_MAX,
        required=False,
        help_text=gettext_lazy("What a free amount is for (instead of products)."),
    )
    amount = forms.CharField(label=gettext_lazy("Free amount (R$)"), max_length=20, required=False)
    shipping = forms.CharField(label=gettext_lazy("Shipping (R$)"), max_length=20, required=False)
    discount = forms.CharField(label=gettext_lazy("Discount (R$)"), max_length=20, required=False)

    def _money(self, name: str) -> int | None:
        text = self.cleaned_data.get(name, "").strip()
        if not text:
            return None
        try:
            return amount_parse(text)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from None

    def clean_amount(self) -> int | None:
        return self._money("amount")

    def clean_shipping(self) -> int:
        return self._money("shipping") or 0

    def clean_discount(self) -> int:
        return self._money("discount") or 0


def _quantities(request: HttpRequest, products: list[Product]) -> tuple[list[orders.LineSpec], dict[int, str]]:
    """The lines asked for (``qty-<product id>`` fields), and what was typed in each (to show it again)."""
    lines, typed = [], {}
    for product in products:
        text = request.POST.get(f"qty-{product.pk}", "").strip()[:6]
        typed[product.pk] = text
        if text:
            lines.append(orders.LineSpec(product.retailer_id, int(text) if text.isdigit() else -1))
    return lines, typed


@require_http_methods(["GET", "POST"])
@require_perm(Perm.REPLY)
def order_create_page(request: HttpRequest, tenant_slug: str, display_id: int) -> HttpResponse:
    membership = request.membership  # type: ignore[attr-defined]
    conversation = conversation_get(membership=membership, display_id=display_id)
    products = list(
        products_found(tenant_id=conversation.tenant_id, visible=True)
        .filter(availability=Product.Availability.IN_STOCK)
        .order_by("category", "name", "id")[:ORDER_LINES_MAX]
    )
    form = OrderForm(request.POST if request.method == "POST" else None)
    typed: dict[int, str] = {}
    if request.method == "POST":
        lines, typed = _quantities(request, products)
        if form.is_valid():
            data = form.cleaned_data
            try:
                order = orders.order_create(
                    actor=membership,
                    conversation=conversation,
                    lines=lines,
                    amount=data["amount"],
                    description=data["description"],
                    shipping=data["shipping"],
                    discount=data["discount"],
                    request=request,
                )
            except ApplicationError as exc:
                fields = [name for name in exc.details if name in form.fields] if isinstance(exc.details, dict) else []
                form.add_error(fields[0] if fields else None, exc.message)
            else:
                messages.success(request, _("Order #%(number)s created.") % {"number": order.number})
                return redirect("order_detail", tenant_slug=tenant_slug, number=order.number)
    rows = [(product, typed.get(product.pk, "")) for product in products]
    context = {"form": form, "conversation": conversation, "rows": rows}
    return render(request, "payments/order_form.html", context, status=400 if request.method == "POST" else 200)


# --- payment accounts ----------------------------------------------------------------------------------------

ACCOUNT_FIELDS: dict[str, tuple[str, ...]] = {
    PaymentAccount.Kind.STATIC_PIX: ("enabled", "pix_key_type", "pix_key", "merchant_name", "merchant_city"),
    PaymentAccount.Kind.BCB_PIX: (
        "enabled", "provider", "pix_key_type", "pix_key", "merchant_name", "client_id", "client_secret", "cert_pem",
        "key_pem",
    ),
    PaymentAccount.Kind.MERCADOPAGO: ("enabled", "access_token", "webhook_secret"),
    PaymentAccount.Kind.STRIPE: ("enabled", "secret_key", "webhook_secret"),
}  # fmt: skip
SECRET_HELP = gettext_lazy("Stored encrypted and never shown again; leave empty to keep the one saved.")


class PaymentAccountForm(forms.Form):
    enabled = forms.BooleanField(label=gettext_lazy("Offer it to agents"), required=False, initial=True)
    provider = forms.ChoiceField(label=gettext_lazy("Bank or payment provider"), required=False, choices=())
    pix_key_type = forms.ChoiceField(
        label=gettext_lazy("Kind of Pix key"),
        required=False,
        choices=[("", "—"), ("CPF", "CPF"), ("CNPJ", "CNPJ"), ("EMAIL", gettext_lazy("E-mail")),
                 ("PHONE", gettext_lazy("Phone")), ("EVP", gettext_lazy("Random key"))],
    )  # fmt: skip
    pix_key = forms.CharField(label=gettext_lazy("Pix key"), max_length=77, required=False)
    merchant_name = forms.CharField(
        label=gettext_lazy("Name shown to the payer"), max_length=25, required=False,
        help_text=gettext_lazy("As the bank app shows it, up to 25 letters."),
    )  # fmt: skip
    merchant_city = forms.CharField(label=gettext_lazy("City"), max_length=15, required=False)
    client_id = forms.CharField(label=gettext_lazy("Client ID"), max_length=200, required=False)
    client_secret = forms.CharField(
        label=gettext_lazy("Client secret"), required=False, widget=forms.PasswordInput, help_text=SECRET_HELP
    )
    cert_pem = forms.CharField(
        label=gettext_lazy("Client certificate (PEM)"), required=False, help_text=SECRET_HELP,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
    )  # fmt: skip
    key_pem = forms.CharField(
        label=gettext_lazy("Certificate's private key (PEM)"), required=False, help_text=SECRET_HELP,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
    )  # fmt: skip
    access_token = forms.CharField(
        label=gettext_lazy("Access token"), required=False, widget=forms.PasswordInput, help_text=SECRET_HELP
    )
    secret_key = forms.CharField(
        label=gettext_lazy("Secret key"), required=False, widget=forms.PasswordInput, help_text=SECRET_HELP
    )
    webhook_secret = forms.CharField(
        label=gettext_lazy("Webhook signing secret"), required=False, widget=forms.PasswordInput, help_text=SECRET_HELP
    )

    def __init__(self, *args: Any, kind: str, account: PaymentAccount | None, **kwargs: Any) -> None:
        if account is not None:
            kwargs["initial"] = {
                name: getattr(account, name)
                for name in ("enabled", "provider", "pix_key_type", "pix_key", "merchant_name", "merchant_city",
                             "client_id")
            }  # fmt: skip
        super().__init__(*args, **kwargs)
        provider = self.fields["provider"]
        assert isinstance(provider, forms.ChoiceField)
        provider.choices = [("", "—")] + [
            (key, provider.get("name", key)) for key, provider in accounts.pix_providers().items()
        ]
        for name in list(self.fields):
            if name not in ACCOUNT_FIELDS[kind]:
                del self.fields[name]


@require_GET
@require_perm(Perm.MANAGE_PAYMENTS)
def payment_account_list_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    saved = {a.kind: a for a in PaymentAccount.objects.filter(tenant=request.tenant)}  # type: ignore[attr-defined]
    rows = [
        {
            "kind": kind,
            "label": label,
            "account": saved.get(kind),
            "webhook_url": accounts.webhook_url(saved[kind]) if kind in saved and kind != "static_pix" else "",
        }
        for kind, label in PaymentAccount.Kind.choices
    ]
    unread = (
        UnreadNotification.objects.filter(tenant=request.tenant)  # type: ignore[attr-defined]
        .select_related("account")
        .order_by("-created_at", "-id")[:20]
    )
    return render(request, "payments/payment_accounts.html", {"rows": rows, "unread": list(unread)})


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_PAYMENTS)
def payment_account_edit_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    kind = request.GET.get("kind", "")
    if not kind:  # the list is where a kind is chosen
        return redirect("payment_account_list", tenant_slug=tenant_slug)
    if kind not in PaymentAccount.Kind.values:
        raise Http404("No such kind of payment account.")
    account = PaymentAccount.objects.filter(tenant=request.tenant, kind=kind).first()  # type: ignore[attr-defined]
    form = PaymentAccountForm(request.POST if request.method == "POST" else None, kind=kind, account=account)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        secret_names = accounts.SECRETS[kind]
        values = {name: value for name, value in data.items() if name not in secret_names}
        values["enabled"] = "1" if data.get("enabled") else ""
        try:
            account = accounts.payment_account_save(
                actor=request.membership,  # type: ignore[attr-defined]
                tenant=request.tenant,  # type: ignore[attr-defined]
                kind=kind,
                values={name: str(value) for name, value in values.items()},
                secrets={name: data.get(name, "") for name in secret_names},
                request=request,
            )
        except ApplicationError as exc:
            fields = [n for n in exc.details if n in form.fields] if isinstance(exc.details, dict) else []
            form.add_error(fields[0] if fields else None, exc.message)
        else:
            messages.success(request, _("Payment account saved."))
            pix = account.kind == PaymentAccount.Kind.BCB_PIX and account.enabled
            if pix and not accounts.pix_webhook_ensure(account):
                messages.warning(
                    request, _("The bank did not take the webhook address; payments are still found every minute.")
                )
            return redirect("payment_account_list", tenant_slug=tenant_slug)
    context = {"form": form, "kind": kind, "label": PaymentAccount.Kind(kind).label, "account": account}
    return render(
        request, "payments/payment_account_form.html", context, status=400 if request.method == "POST" else 200
    )
