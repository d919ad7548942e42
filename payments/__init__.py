"""Catalog, orders and in-chat payments: Pix and card payment links confirmed by the payment provider."""
