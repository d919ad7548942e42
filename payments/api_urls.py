from django.urls import path

from payments import api

urlpatterns = [
    path("t/<slug:tenant_slug>/products/", api.ProductListCreateApi.as_view(), name="api_product_list"),
    path("t/<slug:tenant_slug>/products/<int:product_id>/", api.ProductDetailApi.as_view(), name="api_product_detail"),
    path("t/<slug:tenant_slug>/orders/", api.OrderListCreateApi.as_view(), name="api_order_list"),
    path("t/<slug:tenant_slug>/payments/", api.PaymentListApi.as_view(), name="api_payment_list"),
    path(
        "t/<slug:tenant_slug>/payments/reconciliation/",
        api.ReconciliationApi.as_view(),
        name="api_payment_reconciliation",
    ),
    path("t/<slug:tenant_slug>/orders/<int:number>/", api.OrderDetailApi.as_view(), name="api_order_detail"),
    path("t/<slug:tenant_slug>/orders/<int:number>/status/", api.OrderStatusApi.as_view(), name="api_order_status"),
    path(
        "t/<slug:tenant_slug>/orders/<int:number>/payment-requests/",
        api.OrderPaymentRequestsApi.as_view(),
        name="api_order_payment_requests",
    ),
    path(
        "t/<slug:tenant_slug>/orders/<int:number>/payments/", api.OrderRefundsApi.as_view(), name="api_order_payments"
    ),
]
