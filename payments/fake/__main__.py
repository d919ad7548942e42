"""``python -m payments.fake --host 127.0.0.1 --port 8002 [--config psp.json | --demo] [--public-url URL]``."""

from __future__ import annotations

import argparse
import json
import ssl
import sys
from pathlib import Path
from typing import Any

import uvicorn

from payments.fake.app import create_app
from payments.fake.state import FakePspState, MercadoPagoAccount, Receiver, Settings, StripeAccount
from payments.fake.tls import ServerTls, uvicorn_options

# What --demo registers: one account of each PSP, with credentials printed at start for the product's settings.
DEMO = {
    "pix_receivers": [
        {
            "id": "demo",
            "client_id": "demo-pix-client",
            "client_secret": "demo-pix-secret",
            "keys": ["2a5c4f1e-9b3d-4c7a-8e6f-1d2b3c4d5e6f"],
            "merchant_name": "TRANSPORTE EXEMPLO",
            "merchant_city": "SAO PAULO",
        }
    ],
    "mercadopago_accounts": [
        {"access_token": "TEST-demo-access-token", "webhook_secret": "demo-mercadopago-webhook-secret"}
    ],
    "stripe_accounts": [{"secret_key": "sk_test_demo", "webhook_secret": "whsec_demo"}],
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m payments.fake", description="Fake PSP (API Pix, Mercado Pago, Stripe)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--config", type=Path, help="JSON: pix_receivers, mercadopago_accounts, stripe_accounts")
    parser.add_argument("--demo", action="store_true", help="register one demo account of each PSP")
    parser.add_argument("--public-url", help="base URL written into payment links (init_point, session url)")
    parser.add_argument("--tls-cert", help="server certificate (PEM): serve HTTPS with client certificates")
    parser.add_argument("--tls-key", help="server key (PEM)")
    parser.add_argument("--tls-client-ca", help="CA (PEM) that signs the clients' certificates")
    parser.add_argument("--callback-cert", help="the PSP's client certificate (PEM) for mutual-TLS callbacks")
    parser.add_argument("--callback-key", help="its key (PEM)")
    parser.add_argument("--callback-ca", help="CA (PEM) of the receivers' server certificates (default: system CAs)")
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def register(state: FakePspState, config: dict[str, Any]) -> None:
    with state.lock:
        for item in config.get("pix_receivers", []):
            receiver = Receiver(**{**item, "scopes": frozenset(item["scopes"])} if "scopes" in item else item)
            state.pix.receivers[receiver.id] = receiver
        for item in config.get("mercadopago_accounts", []):
            account = MercadoPagoAccount(**item)
            state.mercadopago.accounts[account.access_token] = account
        for item in config.get("stripe_accounts", []):
            stripe = StripeAccount(**item)
            state.stripe.accounts[stripe.secret_key] = stripe


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    state = FakePspState(Settings(public_base_url=args.public_url))
    if args.demo:
        register(state, DEMO)
    if args.config:
        register(state, json.loads(args.config.read_text(encoding="utf-8")))
    options: dict[str, Any] = {}
    scheme = "http"
    if args.tls_cert:
        options = uvicorn_options(ServerTls(args.tls_cert, args.tls_key, args.tls_client_ca))
        scheme = "https"
    base = f"{scheme}://{args.host}:{args.port}"
    print(
        f"Fake PSP on {base}/  API Pix: {base}/pix/api/v2 (token {base}/pix/oauth/token)  "
        f"Mercado Pago: {base}/mercadopago  Stripe: {base}/stripe  payer: {base}/payer/",
        file=sys.stderr,
    )
    app = create_app(state, delivery_tls=callback_tls(args))
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, **options)


def callback_tls(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not args.callback_cert:
        return None
    context = ssl.create_default_context(cafile=args.callback_ca)
    context.load_cert_chain(args.callback_cert, args.callback_key)
    return context


if __name__ == "__main__":
    main()
