"""REST API of the catalog: the workspace's products, newest first a page at a time, one product, create,
change (fields left out keep their value) and delete. Every operation needs "Manage payments and catalog";
another workspace's product is 404, like one that never was. Prices are integers of centavos."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from helpdesk.api import CursorPagination, ErrorOutput, StrictBooleanField, StrictCharField, StrictIntegerField
from helpdesk.exceptions import ValidationFailed
from payments import catalog
from payments.models import CATEGORY_MAX, CURRENCIES, DESCRIPTION_MAX, NAME_MAX, PRICE_MAX, RETAILER_ID_MAX, Product
from payments.selectors import SEARCH_MAX, product_get, products_found
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
    parser_classes = [JSONParser]
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
    parser_classes = [JSONParser]

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
