from django.urls import path

from payments import pages, payment_pages

urlpatterns = [
    path("settings/catalog/", pages.product_list_page, name="product_list"),
    path("settings/catalog/new/", pages.product_create_page, name="product_create"),
    path("settings/catalog/sync/", pages.catalog_sync_page, name="catalog_sync"),
    path("settings/catalog/import/", pages.product_import_page, name="product_import"),
    path("settings/catalog/import/<int:import_id>/", pages.product_import_detail_page, name="product_import_detail"),
    path(
        "settings/catalog/import/<int:import_id>/errors.csv",
        pages.product_import_errors_page,
        name="product_import_errors",
    ),
    path("settings/catalog/<int:product_id>/", pages.product_edit_page, name="product_edit"),
    path("settings/catalog/<int:product_id>/delete/", pages.product_delete_page, name="product_delete"),
]

urlpatterns += [
    path("orders/", pages.order_list_page, name="order_list"),
    path("payments/", payment_pages.payment_list_page, name="payment_list"),
    path("payments/requests/", payment_pages.payment_request_list_page, name="payment_request_list"),
    path("payments/reconciliation/", payment_pages.payment_reconciliation_page, name="payment_reconciliation"),
    path(
        "payments/reconciliation/export.csv",
        payment_pages.payment_reconciliation_csv_page,
        name="payment_reconciliation_csv",
    ),
    path("orders/<int:number>/", pages.order_detail_page, name="order_detail"),
    path("orders/<int:number>/status/", pages.order_status_page, name="order_status"),
    path("orders/<int:number>/payment/", pages.order_payment_request_page, name="order_payment_request"),
    path("orders/<int:number>/refund/", pages.order_refund_page, name="order_refund"),
    path("inbox/c/<int:display_id>/orders/new/", pages.order_create_page, name="order_create"),
    path("settings/payments/", pages.payment_account_list_page, name="payment_account_list"),
    # The kind is a query parameter (?kind=static_pix): a setting of the workspace, not an object of it.
    path("settings/payments/edit/", pages.payment_account_edit_page, name="payment_account_edit"),
]
