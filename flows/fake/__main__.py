"""``python -m flows.fake --host 127.0.0.1 --port 8003 [--demo] [--config transit.json]``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import uvicorn

from flows.fake.admin import DEMO, AdminError, register
from flows.fake.app import create_app
from flows.fake.state import TransitState


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m flows.fake", description="Fake transit operator (card API)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8003)
    parser.add_argument("--config", type=Path, help='JSON: {"api_keys": [...], "cards": [...]}')
    parser.add_argument("--demo", action="store_true", help="register the demo API key and cards")
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def describe(state: TransitState) -> str:
    with state.lock:
        keys = ", ".join(state.api_keys) or "none (POST /_fake/keys)"
        cards = [
            f"  {card.number}  {card.holder_name}  R$ {card.balance // 100},{card.balance % 100:02d}  {card.status}"
            for card in state.cards.values()
        ]
    return "\n".join([f"API keys: {keys}", "Cards:" if cards else "Cards: none (POST /_fake/cards)", *cards])


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    state = TransitState()
    try:
        if args.demo:
            register(state, DEMO)
        if args.config:
            register(state, json.loads(args.config.read_text(encoding="utf-8")))
    except (OSError, ValueError, AdminError) as problem:
        sys.exit(f"python -m flows.fake: {args.config}: {problem}")
    print(f"Fake transit operator on http://{args.host}:{args.port}/\n{describe(state)}", file=sys.stderr, flush=True)
    uvicorn.run(create_app(state), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
