"""REST API of the catalog: the workspace's products, newest first a page at a time, one product, create,
change (fields left out keep their value) and delete. Every operation needs "Manage payments and catalog";
another workspace's product is 404, like one that never was. Prices are integers of centavos."""

from __future__ import annotations

from datetime import date

from django.db.models import QuerySet
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from conversations.selectors import conversation_get
from helpdesk.api import (
    CursorPagination,
    ErrorOutput,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
)
from helpdesk.exceptions import ValidationFailed
from helpdesk.parsers import JsonParser
from payments import catalog, orders, refunds
from payments import requests as payment_requests
from payments.models import (
    CATEGORY_MAX,
    CURRENCIES,
    DESCRIPTION_MAX,
    NAME_MAX,
    ORDER_DESCRIPTION_MAX,
    ORDER_LINES_MAX,
    PRICE_MAX,
    QUANTITY_MAX,
    RETAILER_ID_MAX,
    Order,
    Payment,
    PaymentAccount,
    PaymentRequest,
    Product,
    Refund,
)
from payments.orders import MANUAL_STATUSES
from payments.reconciliation import KINDS, ROWS_MAX, reconciliation, reconciliation_range
from payments.selectors import (
    PAYMENT_STATUSES,
    PROBLEMS,
    SEARCH_MAX,
    OrderFilter,
    PaymentFilter,
    order_get,
    orders_found,
    payments_found,
    product_get,
    products_found,
)
from tenants.api_base import TenantAPIView
from tenants.permissions import Perm

FORBIDDEN = OpenApiResponse(ErrorOutput, description="The caller lacks Manage payments and catalog")
INVALID = OpenApiResponse(ErrorOutput, description="validation_failed: details name the field")
UNSUPPORTED = OpenApiResponse(ErrorOutput, description="unsupported_media_type: the body is not JSON")
PRODUCT_NOT_FOUND = OpenApiResponse(ErrorOutput, description="No such product in this workspace")


class ProductOutput(serializers.Serializer):
    id = serializers.IntegerField()
    retailer_id = serializers.CharField(help_text="The SKU: WhatsApp's retailer_id of the catalog item")
    name = serializers.CharField()
    description = serializers.CharField()
    price = StrictIntegerField(help_text="In the currency's minor units (centavos): 2500 is R$ 25,00")
    currency = serializers.CharField()
    image_url = serializers.CharField()
    availability = serializers.ChoiceField(choices=Product.Availability.values)
    visible = serializers.BooleanField(help_text="false: hidden from the WhatsApp catalog and from agents")
    category = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ProductInput(serializers.Serializer):
    retailer_id = StrictCharField(max_length=RETAILER_ID_MAX)
    name = StrictCharField(max_length=NAME_MAX)
    description = StrictCharField(max_length=DESCRIPTION_MAX, required=False, allow_blank=True)
    price = StrictIntegerField(
        min_value=1, max_value=PRICE_MAX, help_text="In the currency's minor units (centavos); never a decimal"
    )
    currency = serializers.ChoiceField(choices=CURRENCIES, required=False)
    image_url = StrictCharField(required=False, allow_blank=True, help_text="An https:// address")
    availability = serializers.ChoiceField(choices=Product.Availability.values, required=False)
    visible = StrictBooleanField(required=False)
    category = StrictCharField(max_length=CATEGORY_MAX, required=False, allow_blank=True)


class ProductPagination(CursorPagination):
    ordering = "-id"


class ProductListCreateApi(TenantAPIView):
    """The workspace's products."""

    required_perm = Perm.MANAGE_PAYMENTS
    parser_classes = [JsonParser]
    pagination_class = ProductPagination

    @extend_schema(
        operation_id="products_list",
        parameters=[
            OpenApiParameter("q", str, description="Part of the name or the SKU"),
            OpenApiParameter("visible", bool, description="Only visible (true) or hidden (false) products"),
        ],
        responses={200: ProductOutput(many=True), 400: INVALID, 403: FORBIDDEN},
        summary="The workspace's products, newest first, a page at a time",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        query = request.query_params.get("q", "").strip()
        if "\x00" in query:
            # PostgreSQL text cannot hold a NUL character, so no row could ever match it.
            raise ValidationFailed(_("The search cannot contain a NUL character."), details={"param": "q"})
        if len(query) > SEARCH_MAX:
            raise ValidationFailed(_("The search is too long (100 characters at most)."), details={"param": "q"})
        visible = request.query_params.get("visible")
        if visible not in (None, "true", "false"):
            raise ValidationFailed(_("visible is true or false."), details={"param": "visible"})
        qs = products_found(
            tenant_id=self.tenant.pk, query=query, visible=None if visible is None else visible == "true"
        )
        paginator = ProductPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(ProductOutput(page, many=True).data)

    @extend_schema(
        operation_id="products_create",
        request=ProductInput,
        responses={201: ProductOutput, 400: INVALID, 403: FORBIDDEN, 415: UNSUPPORTED},
        summary="Add a product to the catalog",
    )
    def post(self, request: Request, tenant_slug: str) -> Response:
        data = ProductInput(data=request.data)
        data.is_valid(raise_exception=True)
        product = catalog.product_create(
            actor=self.principal, tenant=self.tenant, spec=catalog.ProductSpec(**data.validated_data), request=request
        )
        return Response(ProductOutput(product).data, status=status.HTTP_201_CREATED)


class ProductDetailApi(TenantAPIView):
    """One product."""

    required_perm = Perm.MANAGE_PAYMENTS
    parser_classes = [JsonParser]

    @extend_schema(
        operation_id="products_retrieve",
        responses={200: ProductOutput, 403: FORBIDDEN, 404: PRODUCT_NOT_FOUND},
        summary="One product",
    )
    def get(self, request: Request, tenant_slug: str, product_id: int) -> Response:
        return Response(ProductOutput(product_get(tenant_id=self.tenant.pk, product_id=product_id)).data)

    @extend_schema(
        operation_id="products_update",
        request=ProductInput(partial=True),
        responses={200: ProductOutput, 400: INVALID, 403: FORBIDDEN, 404: PRODUCT_NOT_FOUND, 415: UNSUPPORTED},
        summary="Change a product; fields left out keep their value",
    )
    def patch(self, request: Request, tenant_slug: str, product_id: int) -> Response:
        product = product_get(tenant_id=self.tenant.pk, product_id=product_id)
        data = ProductInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        spec = catalog.product_spec_of(product, **data.validated_data)
        product = catalog.product_update(actor=self.principal, product=product, spec=spec, request=request)
        return Response(ProductOutput(product).data)

    @extend_schema(
        operation_id="products_delete",
        responses={204: None, 403: FORBIDDEN, 404: PRODUCT_NOT_FOUND},
        summary="Delete a product",
    )
    def delete(self, request: Request, tenant_slug: str, product_id: int) -> Response:
        catalog.product_delete(
            actor=self.principal, product=product_get(tenant_id=self.tenant.pk, product_id=product_id), request=request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- orders ------------------------------------------------------------------------------------------------

ORDER_NOT_FOUND = OpenApiResponse(ErrorOutput, description="No such order among those the caller sees")
CANNOT_REPLY = OpenApiResponse(ErrorOutput, description="The caller may not reply to customers")


class OrderLineOutput(serializers.Serializer):
    retailer_id = serializers.CharField(help_text="The product's SKU; empty for a free amount")
    name = serializers.CharField()
    quantity = StrictIntegerField()
    unit_price = StrictIntegerField(help_text="Centavos, as the customer was charged")
    catalog_price = StrictIntegerField(allow_null=True, help_text="Our catalog's price; null when not in it")
    subtotal = StrictIntegerField()


class OrderOutput(serializers.Serializer):
    number = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Order.Status.values)
    source = serializers.ChoiceField(choices=Order.Source.values)  # type: ignore[assignment]  # a field named "source"
    contact_id = serializers.IntegerField(allow_null=True)
    conversation_id = serializers.IntegerField(
        source="conversation.display_id", allow_null=True, default=None, help_text="The conversation's number"
    )
    currency = serializers.CharField()
    subtotal = StrictIntegerField()
    shipping = StrictIntegerField()
    discount = StrictIntegerField()
    tax = StrictIntegerField()
    total = StrictIntegerField(help_text="subtotal + tax + shipping - discount, in centavos")
    price_warning = serializers.BooleanField(help_text="Some line's price is not the catalog's")
    note = serializers.CharField(help_text="What the customer wrote with the cart")
    description = serializers.CharField()
    lines = OrderLineOutput(many=True)
    created_at = serializers.DateTimeField()
    status_changed_at = serializers.DateTimeField(allow_null=True)
    paid_at = serializers.DateTimeField(allow_null=True)


class OrderLineInput(serializers.Serializer):
    retailer_id = StrictCharField(max_length=RETAILER_ID_MAX)
    quantity = StrictIntegerField(min_value=1, max_value=QUANTITY_MAX)


class OrderInput(serializers.Serializer):
    conversation_id = StrictIntegerField(min_value=1, help_text="The number of the customer's conversation")
    lines = serializers.ListField(child=OrderLineInput(), required=False, max_length=ORDER_LINES_MAX)
    amount = StrictIntegerField(
        min_value=1, max_value=PRICE_MAX, required=False, help_text="A free amount in centavos, instead of lines"
    )
    description = StrictCharField(max_length=ORDER_DESCRIPTION_MAX, required=False, allow_blank=True)
    shipping = StrictIntegerField(min_value=0, max_value=PRICE_MAX, required=False)
    discount = StrictIntegerField(min_value=0, max_value=PRICE_MAX, required=False)


class OrderStatusInput(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[*MANUAL_STATUSES, Order.Status.PAID],
        help_text="paid (a payment made outside a PSP) needs Manage payments and catalog",
    )
    note = StrictCharField(max_length=ORDER_DESCRIPTION_MAX, required=False, allow_blank=True)


class OrderPagination(CursorPagination):
    ordering = "-id"


def _order_output(order: Order) -> dict[str, object]:
    return dict(OrderOutput(order).data)


def _orders_with_lines(orders: QuerySet[Order]) -> QuerySet[Order]:
    return orders.select_related("conversation").prefetch_related("lines")


class OrderListCreateApi(TenantAPIView):
    """The orders the caller sees."""

    required_perm = Perm.REPLY
    parser_classes = [JsonParser]
    pagination_class = OrderPagination

    @extend_schema(
        operation_id="orders_list",
        parameters=[
            OpenApiParameter("status", str, enum=Order.Status.values, description="Only orders in this status"),
            OpenApiParameter("q", str, description="An order number, or part of the customer's name or phone"),
            OpenApiParameter("since", OpenApiTypes.DATE, description="Created on or after this day"),
            OpenApiParameter("until", OpenApiTypes.DATE, description="Created on or before this day"),
        ],
        responses={200: OrderOutput(many=True), 400: INVALID, 403: CANNOT_REPLY},
        summary="Orders, newest first, a page at a time",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        params = request.query_params
        if empty := sorted(name for name in ("status", "since", "until") if params.get(name) == ""):
            # An empty choice or day is refused, not read as "any": the schema has no empty value for it.
            raise ValidationFailed(_("A filter cannot be empty; leave it out instead."), details={"params": empty})
        query = params.get("q", "").strip()
        if "\x00" in query or len(query) > SEARCH_MAX:
            raise ValidationFailed(_("The search is too long or holds a NUL character."), details={"param": "q"})
        status_ = params.get("status", "")
        if status_ and status_ not in Order.Status.values:
            raise ValidationFailed(_("Unknown status."), details={"param": "status"})
        days = {}
        for name in ("since", "until"):
            text = params.get(name, "")
            try:
                days[name] = parse_date(text) if text else None
            except ValueError:
                days[name] = None
            if text and days[name] is None:
                raise ValidationFailed(_("Write the day as YYYY-MM-DD."), details={"param": name})
        found = OrderFilter(status=status_, query=query, since=days["since"], until=days["until"])
        qs = _orders_with_lines(orders_found(membership=self.principal, found=found)).order_by("-id")
        paginator = OrderPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(OrderOutput(page, many=True).data)

    @extend_schema(
        operation_id="orders_create",
        request=OrderInput,
        responses={201: OrderOutput, 400: INVALID, 403: CANNOT_REPLY, 404: ORDER_NOT_FOUND, 415: UNSUPPORTED},
        summary="Make an order for a conversation's customer: catalog products, or a free amount",
    )
    def post(self, request: Request, tenant_slug: str) -> Response:
        data = OrderInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        conversation = conversation_get(membership=self.principal, display_id=values["conversation_id"])
        order = orders.order_create(
            actor=self.principal,
            conversation=conversation,
            lines=[orders.LineSpec(line["retailer_id"], line["quantity"]) for line in values.get("lines", [])],
            amount=values.get("amount"),
            description=values.get("description", ""),
            shipping=values.get("shipping", 0),
            discount=values.get("discount", 0),
            request=request,
        )
        order = _orders_with_lines(Order.objects.filter(pk=order.pk)).get()
        return Response(_order_output(order), status=status.HTTP_201_CREATED)


class OrderDetailApi(TenantAPIView):
    """One order."""

    required_perm = Perm.REPLY

    @extend_schema(
        operation_id="orders_retrieve",
        responses={200: OrderOutput, 403: CANNOT_REPLY, 404: ORDER_NOT_FOUND},
        summary="One order with its lines",
    )
    def get(self, request: Request, tenant_slug: str, number: int) -> Response:
        order = order_get(membership=self.principal, number=number)
        return Response(_order_output(_orders_with_lines(Order.objects.filter(pk=order.pk)).get()))


class OrderStatusApi(TenantAPIView):
    """An order's status."""

    required_perm = Perm.REPLY
    parser_classes = [JsonParser]

    @extend_schema(
        operation_id="orders_status_update",
        request=OrderStatusInput,
        responses={200: OrderOutput, 400: INVALID, 403: CANNOT_REPLY, 404: ORDER_NOT_FOUND, 415: UNSUPPORTED},
        summary="Move an order on (processing, shipped, completed), cancel it, or record it as paid",
    )
    def put(self, request: Request, tenant_slug: str, number: int) -> Response:
        order = order_get(membership=self.principal, number=number)
        data = OrderStatusInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if values["status"] == Order.Status.PAID:
            orders.order_mark_paid(actor=self.principal, order=order, note=values.get("note", ""), request=request)
        else:
            orders.order_status_set(actor=self.principal, order=order, status=values["status"], request=request)
        return Response(_order_output(_orders_with_lines(Order.objects.filter(pk=order.pk)).get()))


# --- payment requests and refunds --------------------------------------------------------------------------


class PaymentRequestOutput(serializers.Serializer):
    reference = serializers.CharField(help_text="WhatsApp's reference_id of the payment message")
    kind = serializers.CharField(source="account.kind")
    status = serializers.ChoiceField(choices=PaymentRequest.Status.values)
    amount = StrictIntegerField(help_text="Centavos")
    currency = serializers.CharField()
    pix_code = serializers.CharField(help_text="The Pix copy-and-paste code; empty for a card link")
    payment_url = serializers.CharField(help_text="The card payment link; empty for Pix")
    expires_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()


class PaymentRequestInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=PaymentAccount.Kind.choices, help_text="Which of the workspace's accounts")
    minutes = StrictIntegerField(min_value=10, max_value=24 * 60, required=False, help_text="How long it stays open")


class PaymentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField(source="request.reference")
    amount = StrictIntegerField()
    refunded_amount = StrictIntegerField()
    paid_at = serializers.DateTimeField()
    flagged = serializers.CharField(help_text="Why this payment paid nothing (to refund); empty otherwise")


class RefundInput(serializers.Serializer):
    payment_id = StrictIntegerField(min_value=1)
    amount = StrictIntegerField(min_value=1, max_value=PRICE_MAX, help_text="Centavos")
    reason = StrictCharField(max_length=140, required=False, allow_blank=True)


class RefundOutput(serializers.Serializer):
    refund_id = serializers.CharField(help_text="Ours: the provider's idempotency key")
    payment_id = serializers.IntegerField()
    amount = StrictIntegerField()
    status = serializers.ChoiceField(choices=Refund.Status.values)
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class OrderPaymentRequestsApi(TenantAPIView):
    """An order's payment requests."""

    required_perm = Perm.REPLY
    parser_classes = [JsonParser]

    @extend_schema(
        operation_id="orders_payment_requests_list",
        responses={200: PaymentRequestOutput(many=True), 403: CANNOT_REPLY, 404: ORDER_NOT_FOUND},
        summary="The order's payment requests, newest first",
    )
    def get(self, request: Request, tenant_slug: str, number: int) -> Response:
        order = order_get(membership=self.principal, number=number)
        found = order.payment_requests.select_related("account").order_by("-id")
        return Response(PaymentRequestOutput(found, many=True).data)

    @extend_schema(
        operation_id="orders_payment_requests_create",
        request=PaymentRequestInput,
        responses={
            201: PaymentRequestOutput,
            400: INVALID,
            403: CANNOT_REPLY,
            404: ORDER_NOT_FOUND,
            409: OpenApiResponse(ErrorOutput, description="The customer's reply window is closed"),
            415: UNSUPPORTED,
            502: OpenApiResponse(ErrorOutput, description="The payment provider could not make the charge"),
        },
        summary="Charge the order and send the customer the WhatsApp payment message",
    )
    def post(self, request: Request, tenant_slug: str, number: int) -> Response:
        order = order_get(membership=self.principal, number=number)
        data = PaymentRequestInput(data=request.data)
        data.is_valid(raise_exception=True)
        payment_request = payment_requests.payment_request_create(
            actor=self.principal,
            order=order,
            kind=data.validated_data["kind"],
            minutes=data.validated_data.get("minutes"),
            request=request,
        )
        return Response(PaymentRequestOutput(payment_request).data, status=status.HTTP_201_CREATED)


class OrderRefundsApi(TenantAPIView):
    """An order's payments and refunds."""

    required_perm = Perm.MANAGE_PAYMENTS
    parser_classes = [JsonParser]

    @extend_schema(
        operation_id="orders_payments_list",
        responses={200: PaymentOutput(many=True), 403: FORBIDDEN, 404: ORDER_NOT_FOUND},
        summary="The payments received for the order",
    )
    def get(self, request: Request, tenant_slug: str, number: int) -> Response:
        order = order_get(membership=self.principal, number=number)
        found = Payment.objects.filter(request__order=order).select_related("request").order_by("id")
        return Response(PaymentOutput(found, many=True).data)

    @extend_schema(
        operation_id="orders_refunds_create",
        request=RefundInput,
        responses={201: RefundOutput, 400: INVALID, 403: FORBIDDEN, 404: ORDER_NOT_FOUND, 415: UNSUPPORTED},
        summary="Give back all or part of one of the order's payments",
    )
    def post(self, request: Request, tenant_slug: str, number: int) -> Response:
        order = order_get(membership=self.principal, number=number)
        data = RefundInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        payment = (
            Payment.objects.filter(request__order=order, pk=values["payment_id"]).select_related("account").first()
        )
        if payment is None:
            raise ValidationFailed(_("Choose a payment of this order."), details={"payment_id": ["not found"]})
        refund = refunds.payment_refund(
            actor=self.principal,
            payment=payment,
            amount=values["amount"],
            reason=values.get("reason", ""),
            request=request,
        )
        return Response(RefundOutput(refund).data, status=status.HTTP_201_CREATED)


# --- payments received and the reconciliation ------------------------------------------------------------


class PaymentListOutput(serializers.Serializer):
    id = serializers.IntegerField()
    order_number = serializers.IntegerField(source="request.order.number")
    reference = serializers.CharField(source="request.reference", help_text="The payment request's reference")
    kind = serializers.ChoiceField(source="account.kind", choices=PaymentAccount.Kind.choices)
    provider = serializers.CharField(source="account.provider", help_text="The API Pix provider; empty otherwise")
    psp_payment_id = serializers.CharField(
        help_text="Pix endToEndId, Mercado Pago payment, Stripe payment intent; manual-<id> when recorded by hand"
    )
    amount = StrictIntegerField(help_text="Centavos")
    refunded_amount = StrictIntegerField(help_text="Given back or being given back, in centavos")
    currency = serializers.CharField(source="request.currency")
    status = serializers.ChoiceField(source="refund_state", choices=list(PAYMENT_STATUSES))
    problem = serializers.ChoiceField(
        choices=["", *PROBLEMS], help_text="Why the payment paid no order (to refund); empty when it paid it"
    )
    flagged = serializers.CharField(help_text="The problem in the words of when it was recorded")
    contact_id = serializers.IntegerField(source="request.order.contact_id", allow_null=True)
    paid_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()


class PaymentListPagination(CursorPagination):
    ordering = "-id"


def _day_params(request: Request, names: tuple[str, ...]) -> dict[str, date | None]:
    """Days of the query string (YYYY-MM-DD); an empty one is refused, not read as "any"."""
    days: dict[str, date | None] = {}
    for name in names:
        text = request.query_params.get(name)
        if text is None:
            days[name] = None
            continue
        try:
            days[name] = parse_date(text) if text else None
        except ValueError:
            days[name] = None
        if days[name] is None:
            raise ValidationFailed(_("Write the day as YYYY-MM-DD."), details={"param": name})
    return days


class PaymentListApi(TenantAPIView):
    """Every payment received."""

    required_perm = Perm.MANAGE_PAYMENTS
    pagination_class = PaymentListPagination

    @extend_schema(
        operation_id="payments_list",
        parameters=[
            OpenApiParameter("kind", str, enum=PaymentAccount.Kind.values, description="Only this way of payment"),
            OpenApiParameter("status", str, enum=list(PAYMENT_STATUSES), description="Only payments in this state"),
            OpenApiParameter("flagged", bool, description="Only payments that paid no order (true) or that did"),
            OpenApiParameter("q", str, description="An order number, the provider's payment id, or the customer"),
            OpenApiParameter("since", OpenApiTypes.DATE, description="Paid on or after this day (the workspace's)"),
            OpenApiParameter("until", OpenApiTypes.DATE, description="Paid on or before this day (the workspace's)"),
        ],
        responses={200: PaymentListOutput(many=True), 400: INVALID, 403: FORBIDDEN},
        summary="Payments received, newest first, a page at a time",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        params = request.query_params
        if empty := sorted(name for name in ("kind", "status", "flagged", "since", "until") if params.get(name) == ""):
            raise ValidationFailed(_("A filter cannot be empty; leave it out instead."), details={"params": empty})
        query = params.get("q", "").strip()
        if "\x00" in query or len(query) > SEARCH_MAX:
            raise ValidationFailed(_("The search is too long or holds a NUL character."), details={"param": "q"})
        kind, status_, flagged = params.get("kind", ""), params.get("status", ""), params.get("flagged")
        if kind and kind not in PaymentAccount.Kind.values:
            raise ValidationFailed(_("Unknown way of payment."), details={"param": "kind"})
        if status_ and status_ not in PAYMENT_STATUSES:
            raise ValidationFailed(_("Unknown status."), details={"param": "status"})
        if flagged not in (None, "true", "false"):
            raise ValidationFailed(_("flagged is true or false."), details={"param": "flagged"})
        days = _day_params(request, ("since", "until"))
        found = PaymentFilter(
            kind=kind,
            status=status_,
            flagged=None if flagged is None else flagged == "true",
            query=query,
            since=days["since"],
            until=days["until"],
        )
        qs = payments_found(tenant=self.tenant, found=found).order_by("-id")
        paginator = PaymentListPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(PaymentListOutput(page, many=True).data)


class ReconciliationTotalsOutput(serializers.Serializer):
    payments = StrictIntegerField(help_text="How many payments")
    received = StrictIntegerField(help_text="Centavos received, whether they paid an order or not")
    refunded = StrictIntegerField(help_text="Centavos given back or being given back of those payments")
    net = StrictIntegerField(help_text="received - refunded")
    unmatched = StrictIntegerField(help_text="Centavos received that paid no order")
    by_hand = StrictIntegerField(help_text="Centavos recorded by hand, not by a provider")
    orders_paid = StrictIntegerField(help_text="Orders that turned paid")
    orders_amount = StrictIntegerField(help_text="Their totals, in centavos")


class ReconciliationKindOutput(ReconciliationTotalsOutput):
    kind = serializers.ChoiceField(choices=PaymentAccount.Kind.choices)


class ReconciliationDayOutput(ReconciliationTotalsOutput):
    day = serializers.DateField(help_text="A day of the workspace's time zone")


class DifferenceOutput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=list(KINDS))
    order_number = serializers.IntegerField()
    at = serializers.DateTimeField(help_text="When it was paid, the refund asked or the request opened")
    amount = StrictIntegerField(help_text="The money in question, in centavos")
    expected = StrictIntegerField(allow_null=True, help_text="What was asked, or the order's total")
    refunded = StrictIntegerField(help_text="Already given back (or being given back) of a payment")
    currency = serializers.CharField()
    account_kind = serializers.CharField(help_text="A way of payment; empty for an order marked paid by hand")
    reference = serializers.CharField()
    psp_payment_id = serializers.CharField()
    problem = serializers.CharField(
        help_text="wrong_amount, late, order_closed (a payment); processing, failed (a refund); unconfirmed"
    )
    explanation = serializers.CharField(help_text="What is wrong, in the caller's language")
    who = serializers.CharField(help_text="Who marked the order paid")
    note = serializers.CharField(help_text="Their note, or why the provider refused a refund")


class ReconciliationOutput(serializers.Serializer):
    since = serializers.DateField()
    until = serializers.DateField()
    currency = serializers.CharField()
    totals = ReconciliationTotalsOutput()
    by_kind = ReconciliationKindOutput(many=True)
    by_day = ReconciliationDayOutput(many=True)
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="How many of each kind, in all")
    truncated = serializers.BooleanField(help_text=f"Some kind has more than the {ROWS_MAX} rows listed")
    differences = DifferenceOutput(many=True)


class ReconciliationApi(TenantAPIView):
    """The reconciliation of a range of days."""

    required_perm = Perm.MANAGE_PAYMENTS

    @extend_schema(
        operation_id="payments_reconciliation",
        parameters=[
            OpenApiParameter("since", OpenApiTypes.DATE, description="First day (the workspace's); until less 6 days"),
            OpenApiParameter("until", OpenApiTypes.DATE, description="Last day, included; today by default"),
        ],
        responses={200: ReconciliationOutput, 400: INVALID, 403: FORBIDDEN},
        summary="What the providers say was paid beside the orders paid: the differences and the totals",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        if empty := sorted(name for name in ("since", "until") if request.query_params.get(name) == ""):
            raise ValidationFailed(_("A filter cannot be empty; leave it out instead."), details={"params": empty})
        days = _day_params(request, ("since", "until"))
        try:
            since, until = reconciliation_range(since=days["since"], until=days["until"], tenant=self.tenant)
        except ValidationFailed as exc:
            raise ValidationFailed(exc.message, details={"param": "since"}) from None
        report = reconciliation(tenant=self.tenant, since=since, until=until)
        body = {
            "since": report.since,
            "until": report.until,
            "currency": report.currency,
            "totals": report.totals.as_dict(),
            "by_kind": [{"kind": kind, **totals.as_dict()} for kind, totals in report.by_kind.items()],
            "by_day": [{"day": day, **totals.as_dict()} for day, totals in report.by_day.items()],
            "counts": report.counts,
            "truncated": report.truncated,
            "differences": report.rows,
        }
        return Response(ReconciliationOutput(body).data)
