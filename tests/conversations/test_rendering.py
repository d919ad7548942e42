"""The inbox's message rendering: WhatsApp formatting, every stored message type, script injection, downloads."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.template.loader import get_template
from django.test import Client
from django.utils import timezone, translation

from conversations.content import is_current
from conversations.formatting import wa_format
from conversations.models import Attachment, Conversation, Message, Reaction
from conversations.services.inbound import without_nul
from conversations.services.outbound import note_create
from tenants.permissions import BuiltinRole
from tests.conversations.factories import make_conversation, make_inbox
from tests.conversations.xss_corpus import XSS_PAYLOADS
from tests.factories import add_member, make_tenant, make_user, owner_of
from tests.whatsapp.conftest import FIXTURES, PHONE_NUMBER_ID, load_fixture, make_channel, retarget
from whatsapp.content import neutral_from_meta
from whatsapp.models import WebhookEvent
from whatsapp.processing import webhook_event_process

pytestmark = pytest.mark.django_db

LINK = '<a href="{0}" rel="noopener noreferrer nofollow" target="_blank">{0}</a>'


# -- wa_format ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("*bold*", "<strong>bold</strong>"),
        ("_italic_", "<em>italic</em>"),
        ("~strike~", "<del>strike</del>"),
        ("```mono *not bold*```", "<code>mono *not bold*</code>"),
        ("`inline _x_`", "<code>inline _x_</code>"),
        ("*_both_*", "<strong><em>both</em></strong>"),
        ("a *b* c _d_", "a <strong>b</strong> c <em>d</em>"),
        ("snake_case_name and 2*3*4", "snake_case_name and 2*3*4"),
        ("* not bold *", "* not bold *"),
        ("**", "**"),
        ("*a _b* c_", "<strong>a _b</strong> c_"),
        ("one\ntwo", "one<br>two"),
        ("one\r\ntwo", "one<br>two"),
        ("```a\nb```", "<code>a<br>b</code>"),
        ("x < y & z > \"w\" 'v'", "x &lt; y &amp; z &gt; &quot;w&quot; &#x27;v&#x27;"),
        ("see https://example.com/a_b_c.", "see " + LINK.format("https://example.com/a_b_c") + "."),
        ("(https://example.com/x)", "(" + LINK.format("https://example.com/x") + ")"),
        ("https://example.com/w(ide)", LINK.format("https://example.com/w(ide)")),
        ("*https://example.com*", "<strong>" + LINK.format("https://example.com") + "</strong>"),
        ("http://a.b/?q=1&r=2", LINK.format("http://a.b/?q=1&amp;r=2")),
        ("https://", "https://"),
        ("javascript:alert(1)", "javascript:alert(1)"),
        ("data:text/html,<b>x</b>", "data:text/html,&lt;b&gt;x&lt;/b&gt;"),
        ("ftp://example.com", "ftp://example.com"),
        (
            'https://x.y/"onmouseover="alert(1)',
            LINK.format("https://x.y/") + "&quot;onmouseover=&quot;alert(1)",
        ),
        ("*<img src=x onerror=alert(1)>*", "<strong>&lt;img src=x onerror=alert(1)&gt;</strong>"),
        ('_"><svg/onload=alert(1)>_', "<em>&quot;&gt;&lt;svg/onload=alert(1)&gt;</em>"),
        ("```<script>alert(1)</script>```", "<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>"),
        ("a\x00b", "ab"),
    ],
)
def test_wa_format_renders_exact_html(text, expected):
    assert wa_format(text) == expected


def test_wa_format_highlights_mentions_but_not_inside_links():
    html = wa_format("@Ana see https://x.y/@Ana and @Anabel", mentions=["Ana"])
    assert html == ('<span class="mention">@Ana</span> see ' + LINK.format("https://x.y/@Ana") + " and @Anabel")


def test_wa_format_mention_names_are_escaped():
    assert wa_format("hi @<b>", mentions=["<b>"]) == 'hi <span class="mention">@&lt;b&gt;</span>'


# -- an allow-list of the markup the message template may produce ------------------------------------------

_TEXT = re.compile(r"^[\s\S]*$")
_CLASS = re.compile(r"^[a-z0-9 _-]+$")
_WORD = re.compile(r"^[a-z_]+$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HREF = re.compile(r"^(/t/[a-z0-9-]+/inbox/attachments/\d+/|#m-\d+|https?://[^\s\"'<>`]+)$")
ALLOWED: dict[str, dict[str, re.Pattern[str] | None]] = {
    "article": {"class": _CLASS, "id": re.compile(r"^m-\d+$"), "data-id": re.compile(r"^\d+$"),
                "data-key": re.compile(r"^\d{20}\.\d{20}$"), "data-status": _WORD, "data-type": _WORD, "data-day": _DAY,
                "data-day-label": _TEXT},
    "header": {"class": _CLASS},
    "footer": {"class": _CLASS},
    "div": {"class": _CLASS},
    "p": {"class": _CLASS, "title": _TEXT, "data-day": _DAY},
    "span": {"class": _CLASS, "title": _TEXT, "aria-label": _TEXT, "data-ticks": _WORD, "role": re.compile(r"^img$")},
    "blockquote": {"class": _CLASS},
    "a": {"class": _CLASS, "href": _HREF, "rel": re.compile(r"^(noopener|noopener noreferrer nofollow)$"),
          "target": re.compile(r"^_blank$"), "download": None},
    "img": {"class": _CLASS, "src": _HREF, "alt": _TEXT, "loading": re.compile(r"^lazy$")},
    "video": {"class": _CLASS, "src": _HREF, "controls": None, "preload": _WORD},
    "audio": {"class": _CLASS, "src": _HREF, "controls": None, "preload": _WORD},
    "strong": {"class": _CLASS}, "em": {}, "del": {}, "br": {},
    "code": {"class": _CLASS, "id": re.compile(r"^pix-\d+$")},
    "ul": {"class": _CLASS, "aria-label": _TEXT}, "li": {"class": _CLASS},
    "dl": {"class": _CLASS}, "dt": {}, "dd": {"class": _CLASS},
    "table": {"class": _CLASS}, "thead": {}, "tbody": {}, "tfoot": {}, "tr": {},
    "th": {"colspan": re.compile(r"^\d$")}, "td": {"class": _CLASS},
    "time": {"datetime": _TEXT, "title": _TEXT},
    "button": {"type": re.compile(r"^button$"), "class": _CLASS, "data-reply": None, "data-react": _TEXT,
               "title": _TEXT, "aria-label": _TEXT, "data-copy": re.compile(r"^#pix-\d+$"), "data-copied": _TEXT},
}  # fmt: skip


class _AllowListChecker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        allowed = ALLOWED.get(tag)
        if allowed is None:
            self.problems.append(f"tag <{tag}>")
            return
        for name, value in attrs:
            if name not in allowed:
                self.problems.append(f"attribute {name}={value!r} on <{tag}>")
                continue
            pattern = allowed[name]
            if pattern is None:
                if value is not None:
                    self.problems.append(f"valueless attribute {name}={value!r} on <{tag}>")
            elif value is None or not pattern.match(value):
                self.problems.append(f"value {name}={value!r} on <{tag}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_comment(self, data: str) -> None:
        self.problems.append(f"comment {data!r}")

    def handle_decl(self, decl: str) -> None:
        self.problems.append(f"declaration {decl!r}")

    def unknown_decl(self, data: str) -> None:
        self.problems.append(f"declaration {data!r}")

    def handle_pi(self, data: str) -> None:
        self.problems.append(f"processing instruction {data!r}")


def markup_problems(html: str) -> list[str]:
    checker = _AllowListChecker()
    checker.feed(html)
    checker.close()
    # Tags and attributes are checked by the parser (no on* attribute, href/src only ours or http(s)).
    if re.search(r"<script", html, re.IGNORECASE):
        checker.problems.append("<script")
    return checker.problems


# -- helpers -----------------------------------------------------------------------------------------------


def load(message: Message) -> Message:
    """The message as the inbox loads it (the template's context contract)."""
    return (
        Message.objects.select_related("reply_to", "sender_user", "conversation__contact")
        .prefetch_related("attachments", "reactions")
        .get(pk=message.pk)
    )


def render_message(context: dict[str, Any]) -> str:
    """One message through the inbox's Jinja2 template. The views pass the reply permission as
    ``can_reply`` and ``can_retry``; here ``can.reply`` (the context processor's) sets both."""
    context = dict(context)
    can = context.pop("can", {})
    context["can_reply"] = bool(context.get("can_reply") or can.get("reply"))
    context["can_retry"] = bool(can.get("reply"))
    context["messages"] = [context.pop("message")]
    return get_template("conversations/message.html", using="jinja2").render(context)


def render(message: Message) -> str:
    message = load(message)
    context = {"message": message, "current_tenant": message.conversation.inbox.tenant, "can_reply": True}
    html = render_message(context)
    assert markup_problems(html) == [], html
    return html


def text_of(html: str) -> str:
    """The visible text, whitespace collapsed (for asserting on what an agent reads)."""
    parts: list[str] = []

    class Collector(HTMLParser):
        def handle_data(self, data: str) -> None:
            parts.append(data)

    collector = Collector(convert_charrefs=True)
    collector.feed(html)
    return " ".join(" ".join(parts).split())


def add_message(conversation: Conversation, **fields: Any) -> Message:
    inbound = fields.get("direction", Message.Direction.INBOUND) == Message.Direction.INBOUND
    defaults: dict[str, Any] = {
        "tenant_id": conversation.tenant_id,
        "conversation": conversation,
        "inbox_id": conversation.inbox_id,
        "direction": Message.Direction.INBOUND,
        "sender_type": Message.SenderType.CONTACT if inbound else Message.SenderType.AGENT,
        "status": Message.Status.RECEIVED if inbound else Message.Status.SENT,
    }
    fields = defaults | fields
    if not is_current(fields.get("content")):
        # Written in Meta's terms, stored as the WhatsApp adapter stores it: neutral content.
        fields["content"] = neutral_from_meta(
            fields.get("type", "text"),
            fields.get("content"),
            text=fields.get("text", ""),
            sender_type=fields["sender_type"],
        )
    return Message.objects.create(**fields)


def add_attachment(message: Message, *, content: bytes = b"data", **fields: Any) -> Attachment:
    attachment = Attachment(
        tenant_id=message.tenant_id,
        message=message,
        kind=fields.pop("kind", message.type),
        download_status=fields.pop("download_status", Attachment.DownloadStatus.STORED),
        **fields,
    )
    if attachment.download_status == Attachment.DownloadStatus.STORED:
        # The stored name is ours; the customer's file name is only ever shown and sent as a header.
        attachment.file.save("file.bin", ContentFile(content), save=False)
        attachment.file_size = len(content)
    attachment.save()
    return attachment


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)


@pytest.fixture
def conversation(tenant) -> Conversation:
    inbox = make_inbox(tenant, members=[owner_of(tenant)])
    return make_conversation(inbox, name="Maria Souza")


# -- every inbound fixture, stored by the real webhook processing ------------------------------------------

# fixture -> what an agent must read in the rendered message (None: the fixture stores no message).
INBOUND_EXPECTED: dict[str, list[str] | None] = {
    "inbound_audio_file.json": ["Forwarded", "Downloading…"],
    "inbound_audio_voice.json": ["Voice message", "Downloading…"],
    "inbound_audio_voice_meta.json": ["Voice message", "Downloading…"],
    "inbound_button_template_quick_reply.json": ["Replying to a message", "Tapped Unsubscribe"],
    "inbound_button_template_quick_reply_pywa.json": ["Tapped title"],
    "inbound_contacts.json": ["Lucía Gómez", "Google", "+1 (983) 555-2319 (mobile)"],
    "inbound_document.json": ["Forwarded", "Downloading…", "caption"],
    "inbound_document_meta.json": ["Downloading…", "my receipt"],
    "inbound_image.json": ["Downloading…", "Taj Mahal"],
    "inbound_image_with_url.json": ["Downloading…"],
    "inbound_interactive_button_reply.json": ["Tapped Cancel"],
    "inbound_interactive_button_reply_meta.json": ["Tapped Change"],
    "inbound_interactive_list_reply.json": ["Chose Priority Mail Express Next Day to 2 Days"],
    "inbound_interactive_list_reply_meta.json": ["Chose Priority Mail Express Next Day to 2 Days"],
    "inbound_interactive_nfm_reply_flow.json": [
        "Form response flow",
        "Comment text Comment Text",
        "Delivery rating 4",
        "Purchase rating 2",
    ],
    "inbound_interactive_payment_method_br_one_click.json": None,
    "inbound_location.json": [
        "Philz Coffee",
        "101 Forest Ave, Palo Alto, CA 94301",
        "Open in map (37.44221, -122.16166)",
        "https://philzcoffee.com/",
    ],
    "inbound_location_current.json": ["Forwarded", "Open in map (12.25089, 43.90539)"],
    "inbound_order.json": ["Order Product Qty Price Subtotal", "di9ozbzfi4 2 $30.00 $60.00", "Total $85.00"],
    "inbound_reaction.json": ["Reacted \U0001f44d to a message"],
    "inbound_reaction_removed.json": None,
    "inbound_sticker_animated.json": ["Downloading…"],
    "inbound_sticker_static.json": ["Downloading…"],
    "inbound_system_identity_change.json": ["The customer's security code changed"],
    "inbound_system_user_changed_number.json": ["The customer changed their number to +12195555358."],
    "inbound_text.json": ["Does it come in another color?"],
    "inbound_text_forwarded.json": ["Forwarded", "forwarded text"],
    "inbound_text_frequently_forwarded.json": ["Forwarded many times", "text forwarded many times"],
    "inbound_text_product_inquiry_context.json": ["About product: di9ozbzfi4", "Is this still available?"],
    "inbound_text_referral_ctwa_ad.json": ["From an ad: Chat with us"],
    "inbound_text_reply_context.json": ["Replying to a message", "replied text"],
    "inbound_unsupported.json": [
        "This message type cannot be shown here.",
        "131051: Message type unknown — Message type is currently not supported.",
    ],
    "inbound_unsupported_with_type.json": ["(pool)", "131051: Message type unknown"],
    "inbound_value_level_errors.json": ["This message type cannot be shown here. (interactive)"],
    "inbound_video.json": ["Forwarded", "Downloading…", "caption"],
}


def test_every_inbound_fixture_has_an_expectation():
    assert {p.name for p in FIXTURES.glob("inbound_*.json")} == set(INBOUND_EXPECTED)


@pytest.mark.parametrize("fixture", sorted(INBOUND_EXPECTED))
def test_inbound_fixture_renders_its_content(tenant, fixture, django_capture_on_commit_callbacks):
    channel = make_channel(tenant)
    body = json.dumps(retarget(load_fixture(fixture), phone_number_id=PHONE_NUMBER_ID)).encode()
    event = WebhookEvent.objects.create(
        tenant=tenant, channel=channel, body=body, body_sha256=hashlib.sha256(body).hexdigest()
    )
    with django_capture_on_commit_callbacks():  # downloads are not run: media stays "Downloading…"
        webhook_event_process(event_id=event.pk)
    messages = list(Message.objects.filter(tenant=tenant).order_by("id"))
    expected = INBOUND_EXPECTED[fixture]
    if expected is None:
        assert messages == []
        return
    assert len(messages) == 1
    html = render(messages[0])
    visible = text_of(html)
    for snippet in expected:
        assert snippet in visible, visible
    assert f'id="m-{messages[0].pk}"' in html
    assert "msg-in" in html or "msg-system" in html


def test_referral_links_to_the_ad_and_location_links_to_the_map(tenant, django_capture_on_commit_callbacks):
    channel = make_channel(tenant)
    for name in ("inbound_text_referral_ctwa_ad.json", "inbound_location.json"):
        body = json.dumps(retarget(load_fixture(name), phone_number_id=PHONE_NUMBER_ID)).encode()
        event = WebhookEvent.objects.create(
            tenant=tenant, channel=channel, body=body, body_sha256=hashlib.sha256(body).hexdigest()
        )
        with django_capture_on_commit_callbacks():
            webhook_event_process(event_id=event.pk)
    referral, location = Message.objects.filter(tenant=tenant).order_by("id")
    assert 'href="https://fb.me/3cr4Wqqkv"' in render(referral)
    assert 'href="https://www.google.com/maps?q=37.44221496582,-122.16165924072"' in render(location)


# -- stored media, outbound messages, notes and system lines -----------------------------------------------


def test_stored_image_is_a_lazy_image_with_its_caption(conversation):
    message = add_message(conversation, type="image", text="look *here*")
    attachment = add_attachment(message, mime_type="image/jpeg", filename="photo.jpg")
    html = render(message)
    url = f"/t/acme/inbox/attachments/{attachment.pk}/"
    assert f'<img src="{url}" alt="look *here*" loading="lazy">' in html
    assert '<div class="msg-caption">look <strong>here</strong></div>' in html


def test_stored_document_is_a_download_link_with_name_and_size(conversation):
    message = add_message(conversation, type="document")
    attachment = add_attachment(message, mime_type="application/pdf", filename="invoice.pdf", content=b"x" * 2048)
    html = render(message)
    assert f'<a href="/t/acme/inbox/attachments/{attachment.pk}/" download>invoice.pdf</a>' in html
    assert "(2.0\xa0KB)" in html


def test_stored_video_and_audio_have_players(conversation):
    video = add_message(conversation, type="video")
    add_attachment(video, mime_type="video/mp4", filename="clip.mp4")
    voice = add_message(conversation, type="audio", content={"voice": True})
    add_attachment(voice, mime_type="audio/ogg")
    assert '<video class="msg-video" controls' in render(video)
    voice_html = render(voice)
    assert '<audio class="msg-audio" controls' in voice_html
    assert "Voice message" in voice_html


def test_sticker_renders_as_an_image(conversation):
    message = add_message(conversation, type="sticker")
    add_attachment(message, mime_type="image/webp", filename="s.webp")
    assert 'class="msg-sticker"' in render(message)


def test_failed_media_download_shows_the_reason(conversation):
    message = add_message(conversation, type="image")
    add_attachment(message, download_status=Attachment.DownloadStatus.FAILED, download_error="Media expired (404)")
    assert "Media unavailable: Media expired (404)" in text_of(render(message))


@pytest.mark.parametrize(
    ("status", "icon"),
    [
        ("queued", "\U0001f552"),
        ("sending", "\U0001f552"),
        ("sent", "\u2713"),
        ("delivered", "\u2713\u2713"),
        ("read", "\u2713\u2713"),
        ("played", "\u2713\u2713"),
    ],
)
def test_outbound_message_shows_ticks_for_its_status(conversation, owner, status, icon):
    message = add_message(conversation, direction="out", sender_user=owner.user, text="Hello", status=status)
    html = render(message)
    assert f'<span class="ticks ticks-{status}" data-ticks="{status}"' in html
    assert f">{icon}</span>" in html
    assert 'class="msg msg-out"' in html
    assert f'data-status="{status}"' in html
    assert owner.user.display_name in text_of(html)


def test_failed_outbound_message_shows_the_reason_as_tooltip_and_text(conversation, owner):
    message = add_message(
        conversation,
        direction="out",
        sender_user=owner.user,
        text="Hi",
        status="failed",
        error_code=131047,
        error_title="Re-engagement message",
        error_details="More than 24 hours have passed",
    )
    html = render(message)
    reason = "131047: Re-engagement message — More than 24 hours have passed"
    assert f'<span class="ticks ticks-failed" data-ticks="failed" title="{reason}"' in html
    assert f'<p class="msg-failed" title="{reason}">Not delivered: {reason}</p>' in html


def test_a_message_refused_for_the_closed_window_is_explained_in_the_viewers_words(conversation, owner):
    # Stored by the sender in whatever language it ran in; the page says it again in the viewer's.
    message = add_message(
        conversation,
        direction="out",
        sender_user=owner.user,
        text="Hi",
        status="failed",
        error_code=None,
        error_title="Reply window closed",
        error_details="A janela de resposta do cliente está fechada.",
    )
    reason = (
        "Reply window closed — The customer&#39;s reply window is closed. Only an approved message template "
        "can be sent until they write again."
    )
    assert f'<p class="msg-failed" title="{reason}">Not delivered: {reason}' in render(message)


def _list_rows(conversation: Conversation) -> str:
    from django.template.loader import render_to_string

    context = {"rows": [(conversation, {"open": True, "soon": False})], "current_tenant": conversation.tenant}
    return render_to_string("conversations/list_rows.html", {**context, "now": timezone.now()}, using="jinja2")


def test_a_list_rows_ticks_are_named_by_the_status_label(conversation, owner):
    message = add_message(conversation, direction="out", sender_user=owner.user, text="Hi", status="delivered")
    conversation.last_message = message
    conversation.save(update_fields=["last_message"])
    assert 'data-ticks="delivered" role="img" aria-label="Delivered"' in _list_rows(conversation)


@pytest.mark.parametrize(("unread", "label"), [(1, "1 unread message"), (3, "3 unread messages")])
def test_a_list_rows_unread_count_is_said_with_its_plural(conversation, unread, label):
    conversation.unread_count = unread
    assert f'<span class="unread" aria-label="{label}">{unread}</span>' in _list_rows(conversation)


def test_inbound_message_has_no_ticks(conversation):
    assert "ticks" not in render(add_message(conversation, text="hi"))


def test_template_message_shows_name_text_and_buttons(conversation, owner):
    message = add_message(
        conversation,
        direction="out",
        sender_user=owner.user,
        type="template",
        text="Your order 42 has shipped.",
        content={
            "name": "order_shipped",
            "language": "en_US",
            "components": [
                {"type": "header", "parameters": [{"type": "text", "text": "Good news"}]},
                {"type": "body", "parameters": [{"type": "text", "text": "42"}]},
                {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [
                    {"type": "payload", "payload": "track"}]},
            ],
        },
    )  # fmt: skip
    visible = text_of(render(message))
    assert "Template order_shipped (en_US)" in visible
    assert "Good news" in visible
    assert "Your order 42 has shipped." in visible
    assert "quick reply: track" in visible


def test_outbound_interactive_buttons_list_and_cta_url(conversation, owner):
    buttons = add_message(
        conversation, direction="out", sender_user=owner.user, type="interactive", text="Pick one",
        content={"interactive_type": "button", "body": "Pick one", "header": "Menu", "footer": "Thanks",
                 "buttons": [{"id": "a", "title": "Yes"}, {"id": "b", "title": "No"}]},
    )  # fmt: skip
    listing = add_message(
        conversation, direction="out", sender_user=owner.user, type="interactive", text="Shipping",
        content={"interactive_type": "list", "body": "Shipping", "button": "Options",
                 "sections": [{"title": "Fast", "rows": [{"id": "x", "title": "Express", "description": "1 day"}]}]},
    )  # fmt: skip
    cta = add_message(
        conversation, direction="out", sender_user=owner.user, type="interactive", text="Track it",
        content={"interactive_type": "cta_url", "body": "Track it", "display_text": "Open tracking",
                 "url": "https://track.example.com/1"},
    )  # fmt: skip
    assert "Menu Pick one Thanks Yes No" in text_of(render(buttons))
    assert "Shipping Options Fast Express 1 day" in text_of(render(listing))
    cta_html = render(cta)
    assert '<a href="https://track.example.com/1" rel="noopener noreferrer nofollow" target="_blank">' in cta_html
    assert "Open tracking" in text_of(cta_html)


def test_cta_with_a_javascript_url_is_not_a_link(conversation, owner):
    message = add_message(
        conversation, direction="out", sender_user=owner.user, type="interactive", text="x",
        content={"interactive_type": "cta_url", "body": "x", "display_text": "Click", "url": "javascript:alert(1)"},
    )  # fmt: skip
    html = render(message)
    assert "javascript:" not in html
    assert "Click" in text_of(html)


def test_a_contact_cards_phone_kinds_are_named_and_an_unknown_kind_is_shown_as_sent(conversation):
    cards = [
        {
            "name": {"formatted_name": "Rafael Lima"},
            "phones": [
                {"phone": "+55 11 98888-7777", "type": "CELL"},
                {"phone": "+55 11 3000-1000", "type": "WORK"},
                {"phone": "+55 11 3000-2000", "type": "PAGER"},
            ],
        }
    ]
    message = add_message(conversation, type="contacts", content={"contacts": cards})
    assert "+55 11 98888-7777 (mobile) +55 11 3000-1000 (work) +55 11 3000-2000 (pager)" in text_of(render(message))


def test_outbound_location_and_reaction(conversation, owner):
    location = add_message(
        conversation, direction="out", sender_user=owner.user, type="location", text="Shop",
        content={"latitude": -23.5, "longitude": -46.6, "name": "Shop", "address": "Rua A, 1"},
    )  # fmt: skip
    reaction = add_message(
        conversation, direction="out", sender_user=owner.user, type="reaction", text="\u2764",
        content={"message_id": "wamid.x", "emoji": "\u2764"},
    )  # fmt: skip
    assert 'href="https://www.google.com/maps?q=-23.5,-46.6"' in render(location)
    assert "Reacted \u2764 to a message" in text_of(render(reaction))


def test_location_with_non_numeric_coordinates_is_unsupported_without_a_map_link(conversation):
    content = {"v": 1, "kind": "location", "latitude": "1,2&q=x", "longitude": "", "name": "Odd"}
    message = add_message(conversation, type="location", content=content)
    html = render(message)
    assert "google.com/maps" not in html
    assert "Odd" not in text_of(html)
    assert "This message type cannot be shown here." in text_of(html)


def test_note_is_private_and_highlights_mentions(conversation, owner):
    ana = add_member(conversation.tenant, BuiltinRole.ADMIN, user=make_user(name="Ana Lima"))
    conversation.inbox.members.add(ana.user)
    from conversations.selectors import audience_cache_clear

    audience_cache_clear()
    note = note_create(
        actor=owner, conversation=conversation, text="@Ana Lima please *check*", mention_user_ids=[ana.user_id]
    )
    html = render(note)
    assert 'class="msg msg-note"' in html
    assert '<span class="mention">@Ana Lima</span> please <strong>check</strong>' in html
    assert f"Note · {owner.user.display_name}" in text_of(html)
    assert "ticks" not in html


def test_system_activity_line(conversation):
    message = add_message(
        conversation,
        direction="out",
        sender_type="system",
        type="system",
        private=True,
        text="Ana resolved the conversation",
        status="sent",
    )
    html = render(message)
    assert 'class="msg msg-system"' in html
    assert "Ana resolved the conversation" in text_of(html)
    assert "ticks" not in html


def test_quoted_reply_shows_a_preview_of_the_original(conversation):
    original = add_message(conversation, text="Where is my *order*?", external_id="wamid.orig")
    reply = add_message(
        conversation, direction="out", text="On its way", reply_to=original, reply_to_external_id="wamid.orig"
    )
    html = render(reply)
    assert f'<blockquote class="msg-quote"><a href="#m-{original.pk}">Where is my *order*?</a></blockquote>' in html


def test_quoted_media_without_text_names_its_type(conversation):
    original = add_message(conversation, type="image")
    assert "Image message" in text_of(render(add_message(conversation, text="ok", reply_to=original)))


def test_reactions_are_grouped_into_chips(conversation, owner):
    message = add_message(conversation, text="hi")
    Reaction.objects.create(tenant=conversation.tenant, message=message, contact=conversation.contact, emoji="👍")
    Reaction.objects.create(tenant=conversation.tenant, message=message, user=owner.user, emoji="👍")
    other = add_member(conversation.tenant, "agent")
    Reaction.objects.create(tenant=conversation.tenant, message=message, user=other.user, emoji="🎉")
    html = render(message)
    assert '<li class="reaction">👍 <span class="reaction-count">2</span></li>' in html
    assert '<li class="reaction">🎉 <span class="reaction-count">1</span></li>' in html


def test_time_is_the_messages_own_time_with_a_machine_readable_datetime(conversation):
    message = add_message(conversation, text="hi")
    # The customer wrote it well before its webhook came: the bubble shows when it was written.
    message.occurred_at = message.created_at - timedelta(hours=3, minutes=7)
    message.save(update_fields=["occurred_at"])
    html = render(message)
    local = timezone.localtime(message.occurred_at)
    full = f"{local:%b}. {local.day}, {local.year}, {local:%H:%M}"
    assert f'<time datetime="{local.isoformat()}" title="{full}">{local:%H:%M}</time>' in html
    assert timezone.localtime(message.created_at).isoformat() not in html


def test_customer_messages_with_a_whatsapp_id_get_reply_and_react_buttons(conversation):
    html = render(add_message(conversation, text="hi", external_id="wamid.1"))
    assert '<button type="button" class="btn-icon" data-reply' in html
    assert 'data-react="👍"' in html
    assert "data-reply" not in render(add_message(conversation, text="no id yet"))


def test_buttons_need_the_reply_permission(conversation):
    message = load(add_message(conversation, text="hi", external_id="wamid.1"))
    html = render_message({"message": message, "current_tenant": conversation.tenant, "can": {}})
    assert "data-reply" not in html


def test_the_pages_conversation_saves_the_contact_query(conversation, django_assert_num_queries):
    message = add_message(conversation, text="hi")
    loaded = Message.objects.prefetch_related("attachments", "reactions").get(pk=message.pk)
    page = Conversation.objects.select_related("contact").get(pk=conversation.pk)
    context = {"message": loaded, "current_tenant": conversation.tenant, "conversation": page}
    with django_assert_num_queries(0):
        html = render_message(context)
    assert "Maria Souza" in html


def test_rendering_a_message_costs_no_queries_beyond_the_prefetch(conversation, django_assert_num_queries, owner):
    message = add_message(conversation, direction="out", sender_user=owner.user, type="image", text="c")
    add_attachment(message, mime_type="image/png", filename="a.png")
    loaded = load(message)
    tenant = conversation.tenant
    with django_assert_num_queries(0):
        render_message({"message": loaded, "current_tenant": tenant})


# -- script injection --------------------------------------------------------------------------------------


def _hostile_conversation(tenant, payload: str) -> list[Message]:
    inbox = make_inbox(tenant, members=[owner_of(tenant)])
    conversation = make_conversation(inbox, name=payload)
    owner = owner_of(tenant)
    original = add_message(conversation, text=payload, external_id="wamid.hostile")
    messages = [
        original,
        add_message(conversation, direction="out", sender_user=owner.user, text=payload, reply_to=original),
        add_message(conversation, type="image", text=payload, content={"caption": payload}),
        add_message(conversation, type="document", text=payload),
        add_message(
            conversation,
            type="location",
            text=payload,
            content={"latitude": "1.5", "longitude": 1, "name": payload, "address": payload, "url": payload},
        ),
        add_message(
            conversation,
            type="contacts",
            text=payload,
            content={
                "contacts": [
                    {
                        "name": {"formatted_name": payload, "first_name": payload},
                        "org": {"company": payload},
                        "phones": [{"phone": payload, "type": payload, "wa_id": payload}],
                        "emails": [{"email": payload}],
                        "urls": [{"url": payload}],
                    }
                ]
            },
        ),
        add_message(
            conversation,
            type="interactive",
            text=payload,
            content={"interactive_type": "list_reply", "title": payload, "description": payload},
        ),
        add_message(
            conversation,
            type="interactive",
            text=payload,
            content={"interactive_type": "nfm_reply", "name": payload, "response": {payload: payload}},
        ),
        add_message(conversation, type="button", text=payload, content={"text": payload, "payload": payload}),
        add_message(conversation, type="reaction", text=payload, content={"emoji": payload, "message_id": payload}),
        add_message(
            conversation,
            type="order",
            text=payload,
            content={
                "catalog_id": payload,
                "text": payload,
                "product_items": [
                    {"product_retailer_id": payload, "quantity": 1, "item_price": 1, "currency": payload}
                ],
            },
        ),
        add_message(
            conversation,
            direction="out",
            sender_user=owner.user,
            type="template",
            text=payload,
            content={
                "name": payload,
                "language": payload,
                "buttons": [{"text": payload}],
                "components": [{"type": "header", "parameters": [{"type": "text", "text": payload}]}],
            },
        ),
        add_message(
            conversation,
            direction="out",
            sender_user=owner.user,
            type="interactive",
            text=payload,
            content={
                "interactive_type": "cta_url",
                "header": payload,
                "footer": payload,
                "body": payload,
                "display_text": payload,
                "url": payload,
            },
        ),
        add_message(
            conversation,
            direction="out",
            sender_user=owner.user,
            type="interactive",
            text=payload,
            content={
                "interactive_type": "list",
                "body": payload,
                "button": payload,
                "sections": [{"title": payload, "rows": [{"title": payload, "description": payload}]}],
            },
        ),
        add_message(
            conversation,
            direction="out",
            sender_user=owner.user,
            text=payload,
            status="failed",
            error_code=1,
            error_title=payload,
            error_details=payload,
        ),
        add_message(
            conversation,
            type="unsupported",
            content={"unsupported_type": payload, "errors": [{"code": payload, "title": payload, "details": payload}]},
        ),
        add_message(conversation, type="system", content={"system_type": "user_changed_number", "new_wa_id": payload}),
        add_message(
            conversation,
            direction="out",
            sender_type="system",
            type="system",
            private=True,
            text=payload,
            status="sent",
        ),
        add_message(conversation, direction="out", sender_user=owner.user, private=True, text=payload, status="sent"),
        add_message(conversation, text=payload, referral={"source_url": payload, "headline": payload}),
    ]
    add_attachment(messages[2], mime_type=payload[:128], filename=payload[:200] + ".png")
    add_attachment(messages[3], mime_type="text/html", filename=payload[:200])
    add_attachment(
        add_message(conversation, type="video", text=payload),
        download_status=Attachment.DownloadStatus.FAILED,
        download_error=payload,
    )
    Reaction.objects.create(tenant=tenant, message=original, contact=conversation.contact, emoji=payload[:32])
    return list(Message.objects.filter(conversation=conversation).order_by("id"))


def test_the_xss_corpus_is_large_and_distinct():
    assert len(XSS_PAYLOADS) == 86
    assert len(set(XSS_PAYLOADS)) == len(XSS_PAYLOADS)
    # Each would show itself if run; two spell alert() encoded (base64, character references).
    assert all(re.search(r"alert\(|window\.__xss|;base64,|&#97;&#108;", p) for p in XSS_PAYLOADS)


@pytest.mark.parametrize("payload", XSS_PAYLOADS, ids=range(len(XSS_PAYLOADS)))
def test_hostile_content_never_becomes_markup(tenant, payload):
    # Stored as processing stores customer text: without NUL characters (PostgreSQL refuses them).
    messages = _hostile_conversation(tenant, without_nul(payload))
    assert len(messages) == 21
    for message in messages:
        render(message)  # asserts the allow-list


# -- attachment downloads ----------------------------------------------------------------------------------


def _stored(conversation: Conversation, *, mime_type: str, filename: str, content: bytes = b"bytes") -> Attachment:
    message = add_message(conversation, type="document")
    return add_attachment(message, mime_type=mime_type, filename=filename, content=content)


def _get(member, attachment: Attachment, slug: str = "acme"):
    client = Client()
    client.force_login(member.user)
    return client.get(f"/t/{slug}/inbox/attachments/{attachment.pk}/")


@pytest.mark.parametrize(
    ("mime_type", "served_as"),
    [("image/png", "image/png"), ("audio/ogg; codecs=opus", "audio/ogg"), ("video/mp4", "video/mp4")],
)
def test_visible_media_is_served_inline_and_sandboxed(conversation, owner, mime_type, served_as):
    attachment = _stored(conversation, mime_type=mime_type, filename="media.bin", content=b"\x89PNG data")
    response = _get(owner, attachment)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"\x89PNG data"
    assert response["Content-Type"] == served_as
    assert response["Content-Disposition"] == 'inline; filename="media.bin"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"


@pytest.mark.parametrize(
    ("mime_type", "filename"),
    [
        ("text/html", "page.html"),
        ("image/svg+xml", "logo.svg"),
        ("application/pdf", "invoice.pdf"),
        ("", "unknown"),
        ("IMAGE/SVG+XML", "x.png"),
    ],
)
def test_anything_else_is_a_download_of_opaque_bytes(conversation, owner, mime_type, filename):
    attachment = _stored(conversation, mime_type=mime_type, filename=filename, content=b"<script>alert(1)</script>")
    response = _get(owner, attachment)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_agent_sees_attachments_of_conversations_visible_to_them_only(tenant, owner):
    agent = add_member(tenant, BuiltinRole.AGENT)
    my_inbox = make_inbox(tenant, members=[agent])
    other_inbox = make_inbox(tenant, members=[owner])
    someone = add_member(tenant, BuiltinRole.AGENT)
    unassigned = _stored(make_conversation(my_inbox), mime_type="image/png", filename="a.png")
    assigned_to_other = _stored(make_conversation(my_inbox, assignee=someone), mime_type="image/png", filename="b.png")
    not_my_inbox = _stored(make_conversation(other_inbox), mime_type="image/png", filename="c.png")
    assert _get(agent, unassigned).status_code == 200
    assert _get(agent, assigned_to_other).status_code == 404
    assert _get(agent, not_my_inbox).status_code == 404
    assert _get(owner, not_my_inbox).status_code == 200


def test_another_tenants_attachment_is_404(conversation, other_tenant):
    attachment = _stored(conversation, mime_type="image/png", filename="a.png")
    intruder = owner_of(other_tenant)
    assert _get(intruder, attachment, slug="globex").status_code == 404
    assert _get(intruder, attachment, slug="acme").status_code == 404


def test_attachment_not_downloaded_yet_is_404(conversation, owner):
    message = add_message(conversation, type="image")
    pending = add_attachment(message, download_status=Attachment.DownloadStatus.PENDING)
    failed = add_attachment(message, download_status=Attachment.DownloadStatus.FAILED, download_error="gone")
    assert _get(owner, pending).status_code == 404
    assert _get(owner, failed).status_code == 404


def test_attachment_whose_file_is_missing_is_404(conversation, owner):
    attachment = _stored(conversation, mime_type="image/png", filename="a.png")
    Path(attachment.file.path).unlink()
    assert _get(owner, attachment).status_code == 404


def test_attachment_download_requires_login(conversation):
    attachment = _stored(conversation, mime_type="image/png", filename="a.png")
    response = Client().get(f"/t/acme/inbox/attachments/{attachment.pk}/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_second_tenant_is_not_confused_with_the_first():
    # Slugs are per tenant: the same attachment id under a tenant the caller belongs to is still 404.
    first = make_tenant("First", slug="first")
    second = make_tenant("Second", slug="second")
    inbox = make_inbox(first, members=[owner_of(first)])
    attachment = _stored(make_conversation(inbox), mime_type="image/png", filename="a.png")
    member_of_both = owner_of(first)
    add_member(second, BuiltinRole.OWNER, user=member_of_both.user)
    assert _get(member_of_both, attachment, slug="first").status_code == 200
    assert _get(member_of_both, attachment, slug="second").status_code == 404


def test_an_order_shows_quantities_and_money_in_the_viewers_language(conversation):
    message = add_message(
        conversation,
        type="order",
        text="",
        content={
            "catalog_id": "1",
            "product_items": [
                {"product_retailer_id": "PIZZA-G", "quantity": 1200, "item_price": 59.9, "currency": "BRL"},
                {"product_retailer_id": "SUSHI", "quantity": 2, "item_price": 1500, "currency": "JPY"},
            ],
        },
    )
    with translation.override("pt-br"):
        visible = text_of(render(message))
    assert "PIZZA-G 1.200 R$ 59,90 R$ 71.880,00" in visible
    assert "SUSHI 2 JP¥ 1.500 JP¥ 3.000" in visible
    assert "Total R$ 71.880,00 Total JP¥ 3.000" in visible
