"""Convert stored messages still in Meta's shape to neutral content (what migration 0005 does), resumably."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from conversations.models import Attachment, Message
from whatsapp.content import messages_convert


class Command(BaseCommand):
    help = "Convert messages still in Meta's shape to neutral content, in batches; safe to stop and run again."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument("--start-after", type=int, default=0, help="resume after this message id")
        parser.add_argument("--max-batches", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        result = messages_convert(
            message_model=Message,
            attachment_model=Attachment,
            batch_size=options["batch_size"],
            start_after=options["start_after"],
            max_batches=options["max_batches"],
        )
        seconds = time.perf_counter() - started
        rate = (result["converted"] + result["skipped"]) / seconds if seconds else 0.0
        self.stdout.write(
            f"converted {result['converted']}, already neutral {result['skipped']}, {result['batches']} batches, "
            f"last id {result['last_id']}, {seconds:.1f} s ({rate:,.0f} rows/s)"
        )
