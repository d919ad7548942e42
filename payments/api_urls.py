from django.urls import path

from payments import api

urlpatterns = [
    path("t/<slug:tenant_slug>/products/", api.ProductListCreateApi.as_view(), name="api_product_list"),
    path("t/<slug:tenant_slug>/products/<int:product_id>/", api.ProductDetailApi.as_view(), name="api_product_detail"),
]
