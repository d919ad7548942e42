"""Flows a workspace can install ready-made, written in the workspace's language."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

TRANSIT_RECHARGE = "transit_recharge"


def transit_recharge() -> dict[str, Any]:
    """A bus card recharged with no person involved: the card number (checked by the operator), its holder and
    balance, the amount, Pix or card, the payment inside WhatsApp, the credit, and a receipt with the new balance.
    A credit the operator refuses after the payment is refunded (the engine does it) and the customer told."""
    return {
        "start": "ask_card",
        "steps": [
            {
                "id": "ask_card",
                "name": _("Card number"),
                "type": "ask",
                "input": "text",
                "text": _("Hi! Let's recharge your transit card. What is the card's number? (12 digits, on the back)"),
                "validate": {"kind": "transit_card"},
                "save_as": "card_number",
                "retry_text": _("Please type the 12 digits of the card."),
                "max_retries": 2,
                "next": "lookup",
            },
            {
                "id": "lookup",
                "name": _("Card lookup"),
                "type": "transit",
                "action": "lookup",
                "card": "{{card_number}}",
                "save_as": "card",
                "next": "ask_amount",
                "on_error": "card_unknown",
            },
            {
                "id": "card_unknown",
                "name": _("Card not found"),
                "type": "message",
                "text": _("We could not find an active card with this number. Please check it and try again."),
                "next": "ask_card",
            },
            {
                "id": "ask_amount",
                "name": _("Amount"),
                "type": "ask",
                "input": "buttons",
                "text": _(
                    "Card of {{card.holder_name}}, balance {{card.balance|money}}. How much do you want to add? "
                    "Choose or type an amount from R$ 5 to R$ 200."
                ),
                "choices": [
                    {"id": "r10", "title": "R$ 10", "value": 1000},
                    {"id": "r20", "title": "R$ 20", "value": 2000},
                    {"id": "r50", "title": "R$ 50", "value": 5000},
                ],
                "validate": {"kind": "amount", "min": 500, "max": 20000},
                "save_as": "amount",
                "retry_text": _("Choose one of the buttons or type an amount from R$ 5 to R$ 200."),
                "max_retries": 2,
                "next": "ask_method",
            },
            {
                "id": "ask_method",
                "name": _("Way of payment"),
                "type": "ask",
                "input": "buttons",
                "text": _("Recharge of {{amount|money}}. How do you want to pay?"),
                "choices": [
                    {"id": "pix", "title": "Pix", "value": "pix"},
                    {"id": "card", "title": _("Card"), "value": "card"},
                ],
                "save_as": "method",
                "max_retries": 2,
                "next": "pay",
            },
            {
                "id": "pay",
                "name": _("Payment"),
                "type": "payment",
                "amount": "{{amount}}",
                "method": "{{method}}",
                "description": _("Transit card recharge {{card_number}}"),
                "timeout_minutes": 30,
                "reminder_minutes": 10,
                "reminder_text": _("Your recharge of {{amount|money}} is waiting for the payment."),
                "next": "credit",
                "on_error": "pay_failed",
            },
            {
                "id": "credit",
                "name": _("Credit"),
                "type": "transit",
                "action": "credit",
                "card": "{{card_number}}",
                "save_as": "credit",
                "next": "receipt",
                "on_error": "credit_failed",
            },
            {
                "id": "receipt",
                "name": _("Receipt"),
                "type": "end",
                "text": _(
                    "Done! {{payment.amount|money}} added to the card {{card_number}}. New balance: "
                    "{{credit.balance|money}}. Thank you!"
                ),
            },
            {
                "id": "credit_failed",
                "name": _("Credit failed"),
                "type": "handover",
                "text": _(
                    "We received your payment but the operator could not credit the card, so we are giving the "
                    "money back. A person from our team will follow up here."
                ),
            },
            {
                "id": "pay_failed",
                "name": _("Payment unavailable"),
                "type": "handover",
                "text": _("We could not create the payment right now. A person from our team will help you here."),
            },
        ],
    }


def templates() -> dict[str, tuple[str, str]]:
    """The installable flows: key → (name, description), in the active language."""
    return {
        TRANSIT_RECHARGE: (
            _("Transit card recharge"),
            _("Card number, amount, Pix or card, payment in the chat, credit and receipt: no person needed."),
        )
    }


def template_definition(key: str) -> dict[str, Any]:
    if key == TRANSIT_RECHARGE:
        return transit_recharge()
    raise KeyError(key)


def template_keywords(key: str) -> list[str]:
    if key == TRANSIT_RECHARGE:
        return ["recarregar", "recarga", "recharge", "top up"]
    return []
