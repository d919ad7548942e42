from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = _("Catalog and payments")

    def ready(self) -> None:
        from conversations import events, extensions
        from payments import tasks  # noqa: F401  (registers the jobs with Celery in every process)
        from payments.audit import register_audit_display
        from payments.cards import contact_orders_section, order_cards
        from payments.orders import SUBSCRIBER, orders_from_carts
        from payments.product_messages import composer_product_search, product_cards

        register_audit_display()
        events.subscribe_many(events.MessageReceived, orders_from_carts, name=SUBSCRIBER)
        extensions.card_provider_register("payments.order", order_cards)
        extensions.contact_section_register("payments.orders", contact_orders_section)
        extensions.product_cards_register("payments.products", product_cards)
        extensions.composer_product_search_register("payments.products", composer_product_search)
