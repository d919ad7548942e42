"""``python -m whatsapp.fake --host 127.0.0.1 --port 8001 [--config numbers.json] [--review-delay 2]``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from whatsapp.fake.app import create_app
from whatsapp.fake.engine import AdminError
from whatsapp.fake.state import FakeState, Settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m whatsapp.fake", description="Fake WhatsApp Cloud API + simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument(
        "--config",
        type=Path,
        help="JSON file: a list of phone numbers to register (same objects as POST /_fake/phone_numbers)",
    )
    parser.add_argument(
        "--review-delay",
        type=float,
        default=2.0,
        help="seconds before a new template is APPROVED (0 = at once; negative = only through the admin API)",
    )
    parser.add_argument("--public-url", help="base URL the fake writes into media URLs of inbound webhooks")
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


# The simulator page asks for its state once a second; logging each request would bury everything
# else printed on the same console (``make run`` shows the product's e-mails there).
QUIET_PATHS = ("/_fake/simulator/state",)


class QuietPolling(logging.Filter):
    """Drops uvicorn's access-log lines of the simulator's polling; every other request is still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        path = args[2] if isinstance(args, tuple) and len(args) >= 3 else ""
        return not (isinstance(path, str) and path.split("?", 1)[0] in QUIET_PATHS)


def serve(app: Starlette, *, host: str, port: int, log_level: str) -> None:
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=2)
    # After Config: it (re)configures uvicorn's loggers, so the filter must be added once it has.
    logging.getLogger("uvicorn.access").addFilter(QuietPolling())
    uvicorn.Server(config).run()


def load_numbers(path: Path) -> list[dict]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict):
        data = data.get("phone_numbers", [data])
    if not isinstance(data, list):
        raise SystemExit(f"{path}: expected a list of phone numbers")
    return data


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    settings = Settings(
        review_delay_s=None if args.review_delay < 0 else args.review_delay,
        public_base_url=args.public_url,
    )
    app = create_app(FakeState(settings))
    if args.config:
        for number in load_numbers(args.config):
            try:
                app.state.engine.register_number(number)
            except AdminError as error:
                raise SystemExit(f"{args.config}: {error.message}") from None
    print(f"Fake WhatsApp Cloud API on http://{args.host}:{args.port}/  simulator: /simulator/", file=sys.stderr)
    serve(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
