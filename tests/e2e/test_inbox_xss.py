"""Customer-controlled text never runs as script in the agent inbox, in a real browser.

Every payload of ``tests/conversations/xss_corpus.py`` is placed where a customer (or the contact card,
file or place they send) controls the text: contact names, message text, image and document captions,
document file names, location names, addresses and links, and shared contact cards. The inbox list
and each conversation are then opened in Chromium, both server-rendered (a full page load) and as the
fragments the page's script inserts (opening a conversation from the list). A payload that ran, in the
page or in any frame of it, would open a dialog (``alert``) or set ``window.__xss``; the test also checks
each payload is shown as text and that every URL rendered in any frame is http(s).

Only the ASGI server runs (no worker, no Redis needed): SQLite or PostgreSQL, whichever the tests use.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from playwright.sync_api import Dialog, Page, expect

from conversations.models import Attachment, Conversation, Message
from conversations.services import inbound
from conversations.services.inbound import InboundSpec, message_receive
from tenants.models import Tenant
from tests.conversations.xss_corpus import XSS_PAYLOADS
from tests.e2e.conftest import BrowserErrors
from tests.e2e.ui import log_in
from tests.factories import make_tenant, make_user, owner_of
from whatsapp.content import neutral_from_meta
from whatsapp.models import WhatsAppChannel

pytestmark = pytest.mark.e2e

PASSWORD = "Xss-inbox-password-42"
TIMEOUT_MS = 15_000
CHUNK = 8  # payloads per showcase conversation: 5 messages each, so all fit in one page of 50
# A 1x1 transparent PNG: a real image, so the <img> loads instead of failing.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082"
)
# The corpus, pinned: a payload lost or added by mistake shows here.
CORPUS_SIZE = 86
# Runs before any page script, in every frame the init script reaches: each way a payload could
# announce that it ran is reported to the test at once (``__xssReport`` is bound in every frame) and
# kept in the frame. A frame the init script misses keeps the browser's own dialogs, which reach
# ``page.on("dialog")`` from any frame; ``window.__xss`` is read in every frame.
TRAPS = """
window.__alerts = [];
for (const name of ["alert", "confirm", "prompt"]) {
  window[name] = function (...args) {
    const call = name + ":" + args.join(",");
    window.__alerts.push(call);
    if (typeof window.__xssReport === "function") window.__xssReport(call);
  };
}
"""
# templates/base.html: <link rel="icon" href="data:,">, the only non-web URL the pages render.
EMPTY_ICON = ("link", "href", "data:,")
# Every URL an element of a frame holds (its own URL attributes, srcset candidates, and srcdoc, which
# the inbox never renders), as written and as the browser resolves it.
FRAME_URLS = """
() => {
  const names = ["href", "xlink:href", "src", "action", "formaction", "data", "poster", "background", "ping", "cite"];
  const found = [];
  for (const el of document.querySelectorAll("*")) {
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      const values = name === "srcset" ? attr.value.split(",").map(c => c.trim().split(/\\s+/)[0]) : [attr.value];
      if (name === "srcdoc") {
        found.push([el.tagName.toLowerCase(), name, attr.value, "srcdoc:"]);
      } else if (names.includes(name) || name === "srcset") {
        for (const value of values) {
          let resolved;
          try { resolved = new URL(value, document.baseURI).href; } catch (e) { resolved = "invalid:" + value; }
          found.push([el.tagName.toLowerCase(), name, value, resolved]);
        }
      }
    }
  }
  return found;
}
"""


@pytest.fixture
def server_env(server_env: dict[str, str], tmp_path: Path, settings) -> dict[str, str]:
    """Uploaded files go to this test's directory, for this process and the server alike."""
    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = str(media)
    return {**server_env, "MEDIA_ROOT": str(media)}


def shown(text: str) -> str:
    """What a payload looks like as page text: NULs dropped, WhatsApp markers and white space aside."""
    text = text.replace("\x00", "")
    return re.sub(r"[*_~`\s]+", "", text)


def seed(tenant: Tenant, channel: WhatsAppChannel, monkeypatch: pytest.MonkeyPatch) -> tuple[list, list]:
    """One conversation per payload (the contact's name and one text), and showcase conversations with
    every kind of customer content, ``CHUNK`` payloads each. Returns (name conversations, showcases)."""
    # Seeding publishes nothing: no page is open yet, and this process's channel layer is not the server's.
    monkeypatch.setattr(inbound, "publish_message_event", lambda *a, **k: None)
    monkeypatch.setattr(inbound, "publish_conversation_updated", lambda *a, **k: None)
    inbox = channel.inbox
    start = timezone.now() - timedelta(hours=1)
    counter = iter(range(1_000_000))

    def receive(source: str, name: str, type_: str, text: str = "", content=None, filename=None) -> Message:
        n = next(counter)
        message, _created = message_receive(
            inbox=inbox,
            spec=InboundSpec(
                source_id=source,
                external_id=f"wamid.xss-{n}",
                occurred_at=start + timedelta(seconds=n),
                type=type_,
                text=text.replace("\x00", ""),
                content=neutral_from_meta(type_, content or {}, text=text.replace("\x00", "")),
                profile_name=name.replace("\x00", ""),
                phone_e164=f"+{source}",
            ),
        )
        if filename is not None or type_ in ("image", "document"):
            attachment = Attachment(
                tenant_id=tenant.pk,
                message=message,
                kind=type_,
                mime_type="image/png" if type_ == "image" else "application/pdf",
                filename=(filename or "").replace("\x00", ""),
                file_size=len(PNG),
                download_status=Attachment.DownloadStatus.STORED,
            )
            attachment.file.save("upload.bin", ContentFile(PNG), save=False)
            attachment.save()
        return message

    named = []
    for i, payload in enumerate(XSS_PAYLOADS):
        named.append(receive(f"5511970{i:06d}", payload, "text", payload).conversation)
    showcases = []
    for k in range(0, len(XSS_PAYLOADS), CHUNK):
        source = f"5511960{k:06d}"
        name = XSS_PAYLOADS[k]
        for payload in XSS_PAYLOADS[k : k + CHUNK]:
            receive(source, name, "text", payload)
            receive(source, name, "image", payload)
            receive(source, name, "document", payload, filename=payload)
            receive(
                source,
                name,
                "location",
                content={
                    "latitude": -23.5614,
                    "longitude": -46.6559,
                    "name": payload,
                    "address": payload,
                    "url": payload,
                },
            )
            message = receive(
                source,
                name,
                "contacts",
                content={
                    "contacts": [
                        {
                            "name": {"formatted_name": payload, "first_name": payload},
                            "org": {"company": payload, "title": payload},
                            "phones": [{"phone": payload, "type": "CELL"}],
                            "emails": [{"email": payload, "type": "WORK"}],
                            "urls": [{"url": payload, "type": "HOME"}],
                        }
                    ]
                },
            )
        showcases.append(message.conversation)
    return named, showcases


def watch_for_script(page: Page) -> tuple[list[str], list[str]]:
    """Traps in every frame of ``page``; returns the lists the dialogs and the trapped calls go to."""
    dialogs: list[str] = []
    reported: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.expose_binding("__xssReport", lambda source, call: reported.append(f"{source['frame'].url}: {call}"))
    page.add_init_script(TRAPS)
    return dialogs, reported


def assert_nothing_ran(page: Page, dialogs: list[str], reported: list[str]) -> None:
    """No payload ran in any frame: no dialog, no trapped call reported or kept, no ``window.__xss``."""
    for frame in page.frames:  # read first: these calls also deliver the reports still on their way
        kept = frame.evaluate("[window.__alerts || [], typeof window.__xss]")
        assert kept == [[], "undefined"], f"a payload ran in the frame at {frame.url}: {kept}"
    assert dialogs == [], f"a payload opened a dialog: {dialogs}"
    assert reported == [], f"a payload called a dialog function: {reported}"


def assert_only_web_urls(page: Page) -> None:
    """Every frame is a web page, and every URL rendered in any frame is http(s): a path of our own
    (it resolves to the server's origin) or a link out. No javascript:, data: (not even images: the
    inbox shows files from its own paths), blob:, about: or srcdoc content. The one exception is the
    base page's empty icon, ``<link rel="icon" href="data:,">``, which spares a /favicon.ico request."""
    bad = []
    for frame in page.frames:
        if urlsplit(frame.url).scheme not in ("http", "https"):
            bad.append(("frame", "url", frame.url, frame.url))  # about:srcdoc, data: ...; read all the same
        for tag, attr, value, resolved in frame.evaluate(FRAME_URLS):
            if urlsplit(resolved).scheme not in ("http", "https") and (tag, attr, value) != EMPTY_ICON:
                bad.append((tag, attr, value, resolved))
    assert bad == [], f"URLs that are not http(s): {bad}"
    # Counted so that the check cannot pass on an empty page: the pane's own links and images were read.
    assert len(page.frames[0].evaluate(FRAME_URLS)) > 0


def assert_payloads_shown_as_text(page: Page, conversation: Conversation) -> None:
    """Each message of the showcase shows its payload as text, in every place it was put."""
    texts = {
        int(message_id): shown(text)
        for message_id, text in page.locator("[data-messages] > article.msg").evaluate_all(
            "els => els.map(e => [e.dataset.id, e.textContent])"
        )
    }
    messages = list(Message.objects.filter(conversation=conversation).order_by("id"))
    assert set(texts) == {m.pk for m in messages}, "the pane does not show every message"
    for message in messages:
        if message.type == "location":
            payload = message.content["name"]
            places = 2  # name and address (the link only if it is an http(s) address)
        elif message.type == "contacts":
            payload = message.content["cards"][0]["name"]
            places = 3  # name, organisation (company · title counts once) and e-mail at least
        elif message.type == "document":
            payload = message.text
            places = 2  # file name and caption
        else:
            payload = message.text
            places = 1
        needle = shown(payload)
        if not needle:
            continue
        assert texts[message.pk].count(needle) >= places, (message.type, payload, texts[message.pk])


def test_xss_corpus_never_runs_in_the_inbox(
    server_env: dict[str, str],
    page: Page,
    browser_errors: BrowserErrors,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert len(XSS_PAYLOADS) == CORPUS_SIZE
    owner = make_user("owner@xss.example", name="Olivia Owner", password=PASSWORD)
    tenant = make_tenant("Acme", slug="acme", owner=owner)
    from whatsapp.services import channel_create

    channel = channel_create(
        actor=owner_of(tenant),
        name="Support",
        display_phone_number="+55 11 90000-4001",
        phone_number_id="106540352244001",
        waba_id="102290129344001",
        access_token="xss-token",
        app_secret="xss-secret",
        verify=False,
    )
    named, showcases = seed(tenant, channel, monkeypatch)

    dialogs, reported = watch_for_script(page)
    log_in(page, email=owner.email, password=PASSWORD)

    # The list, server-rendered, then every page of it as the script loads them on scrolling.
    page.goto("/t/acme/inbox/")
    expect(page.locator("#inbox[data-live='1']")).to_be_attached(timeout=TIMEOUT_MS)
    rows = page.locator("li.row")
    total = len(named) + len(showcases)
    for _ in range(total):
        if rows.count() >= total:
            break
        before = rows.count()
        page.locator(".inbox-list").evaluate("el => { el.scrollTop = el.scrollHeight; }")
        rows.last.scroll_into_view_if_needed()
        expect(rows).not_to_have_count(before, timeout=TIMEOUT_MS)
    expect(rows).to_have_count(total)
    for conversation in named:
        payload = Message.objects.get(conversation=conversation).text
        row = page.locator(f"li.row#c-{conversation.pk}")
        assert shown(payload) in shown(row.locator(".row-name").text_content() or ""), payload
        assert shown(payload)[:40] in shown(row.locator(".row-preview").text_content() or ""), payload
    assert_nothing_ran(page, dialogs, reported)
    assert_only_web_urls(page)

    # Each showcase: the first server-rendered as a full page, the others opened from the list by the script.
    page.goto(f"/t/acme/inbox/c/{showcases[0].display_id}/")
    expect(page.locator(f".pane[data-conversation='{showcases[0].display_id}']")).to_be_visible()
    assert_payloads_shown_as_text(page, showcases[0])
    assert_nothing_ran(page, dialogs, reported)
    assert_only_web_urls(page)
    for conversation in showcases[1:]:
        page.locator(f"li.row#c-{conversation.pk} a.row-link").click()
        pane = page.locator(f".pane[data-conversation='{conversation.display_id}']")
        expect(pane).to_be_visible(timeout=TIMEOUT_MS)
        header = shown(pane.locator("[data-pane-head] h2").text_content() or "")
        assert shown(Conversation.objects.get(pk=conversation.pk).contact.display_name) in header
        assert_payloads_shown_as_text(page, conversation)
        assert_nothing_ran(page, dialogs, reported)
        assert_only_web_urls(page)

    # Hover and focus everything once: handlers that wait for a person would run now.
    page.locator("#inbox").evaluate(
        """root => root.querySelectorAll("*").forEach(el => {
            for (const type of ["mouseover", "mouseenter", "focus", "focusin", "animationstart", "toggle"]) {
                el.dispatchEvent(new Event(type));
            }
        })"""
    )
    assert_nothing_ran(page, dialogs, reported)
    assert_only_web_urls(page)
    browser_errors.assert_none()


def test_the_checks_see_script_and_bad_urls_inside_frames(page: Page, live_server_url: str) -> None:
    """The traps and the URL check reach into frames: what ran or was rendered in one is reported."""
    dialogs, reported = watch_for_script(page)
    page.goto("/accounts/login/")
    assert_nothing_ran(page, dialogs, reported)
    assert_only_web_urls(page)

    # Our pages refuse to be framed (X-Frame-Options), so a frame in the inbox is one whose content
    # the page itself holds: a srcdoc frame here, reported, and so is a javascript: link inside it.
    page.evaluate("""() => document.body.insertAdjacentHTML("beforeend", '<iframe srcdoc="<p>hi</p>"></iframe>')""")
    expect(page.frame_locator("iframe[srcdoc]").locator("p")).to_have_text("hi")
    [frame] = [f for f in page.frames if f != page.main_frame]
    frame.evaluate("""() => document.body.insertAdjacentHTML("beforeend", '<a href="javascript:alert(1)">x</a>')""")
    with pytest.raises(AssertionError) as failure:
        assert_only_web_urls(page)
    assert str(failure.value).startswith(
        "URLs that are not http(s): [('iframe', 'srcdoc', '<p>hi</p>', 'srcdoc:'), "
        "('frame', 'url', 'about:srcdoc', 'about:srcdoc'), "
        "('a', 'href', 'javascript:alert(1)', 'javascript:alert(1)')]"
    )

    # Script run inside the frame (evaluated by the test, which no Content-Security-Policy stops).
    frame.evaluate("alert('in a frame')")
    with pytest.raises(AssertionError, match="alert:in a frame"):
        assert_nothing_ran(page, dialogs, reported)
    dialogs.clear()
    reported.clear()
    frame.evaluate("() => { window.__alerts = []; window.__xss = 1; }")
    with pytest.raises(AssertionError, match=r"a payload ran in the frame at about:srcdoc: \[\[\], 'number'\]"):
        assert_nothing_ran(page, dialogs, reported)
