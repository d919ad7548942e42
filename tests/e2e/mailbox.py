"""Reads the mail a server process wrote with Django's file-based e-mail backend."""

from __future__ import annotations

import email
import email.policy
import re
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

# Django's file backend ends every message with a newline, 79 dashes and a newline.
_SEPARATOR = b"\n" + b"-" * 79 + b"\n"
_URL = re.compile(r"https?://[^\s<>\"']+")


@dataclass(frozen=True)
class SentEmail:
    subject: str
    from_email: str
    to: list[str]
    body: str
    html: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def urls(self) -> list[str]:
        return [url.rstrip(".,;:)") for url in _URL.findall(self.body)]

    def url_containing(self, fragment: str) -> str:
        matches = [url for url in self.urls if fragment in url]
        if len(matches) != 1:
            raise AssertionError(f"Expected one URL containing {fragment!r} in {self.subject!r}, found {matches}.")
        return matches[0]


def _parse(raw: bytes) -> SentEmail:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    return SentEmail(
        subject=str(message["Subject"] or ""),
        from_email=str(message["From"] or ""),
        to=[address.strip().lower() for address in str(message["To"] or "").split(",") if address.strip()],
        body=text_part.get_content() if text_part is not None else "",
        html=html_part.get_content() if html_part is not None else None,
        headers={key: str(value) for key, value in message.items()},
    )


class Mailbox:
    """The messages in one ``EMAIL_FILE_PATH`` directory, oldest first."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def messages(self) -> list[SentEmail]:
        files = sorted(self.directory.glob("*.log"), key=lambda p: (p.stat().st_mtime_ns, p.name))
        found = []
        for path in files:
            # The last chunk is empty for a complete file and a message still being written otherwise.
            *complete, _rest = path.read_bytes().split(_SEPARATOR)
            found.extend(_parse(chunk) for chunk in complete)
        return found

    def messages_to(self, address: str) -> list[SentEmail]:
        return [m for m in self.messages() if address.lower() in m.to]

    def wait_for(self, *, to: str, subject_contains: str = "", timeout: float = 10.0) -> SentEmail:
        """The newest message to ``to`` (whose subject contains ``subject_contains``), waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        while True:
            matching = [m for m in self.messages_to(to) if subject_contains in m.subject]
            if matching:
                return matching[-1]
            if time.monotonic() > deadline:
                seen = [(m.to, m.subject) for m in self.messages()]
                raise AssertionError(
                    f"No e-mail to {to} (subject ~ {subject_contains!r}) within {timeout} s; seen: {seen}"
                )
            time.sleep(0.05)  # polling the directory for a condition, bounded by the deadline
