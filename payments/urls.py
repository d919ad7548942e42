from django.urls import path

from payments import pages

urlpatterns = [
    path("settings/catalog/", pages.product_list_page, name="product_list"),
    path("settings/catalog/new/", pages.product_create_page, name="product_create"),
    path("settings/catalog/<int:product_id>/", pages.product_edit_page, name="product_edit"),
    path("settings/catalog/<int:product_id>/delete/", pages.product_delete_page, name="product_delete"),
]
