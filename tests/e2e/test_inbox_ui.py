"""The agent inbox's own behaviour in Chromium: the contact drawer, the list after an assignment away.

Only the ASGI server runs (no worker, no fake Cloud API): the data is made here, in the test database,
and the server's real-time events reach the page over its WebSocket (in-process channel layer, or
Redis when REDIS_URL is set).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from django.utils import timezone
from playwright.sync_api import Page, Response, WebSocket, expect

from conversations.models import Contact, Conversation, Inbox, Message
from conversations.services.inbound import _next_display_id
from tenants.models import Membership, Tenant, User
from tenants.permissions import BuiltinRole
from tests.conversations.factories import make_conversation, make_inbox, make_label, make_message
from tests.e2e.conftest import BrowserErrors
from tests.e2e.ui import log_in
from tests.factories import add_member, make_tenant, make_user

pytestmark = pytest.mark.e2e

PASSWORD = "Inbox-ui-password-42"
SLUG = "acme"
TIMEOUT_MS = 15_000


def workspace() -> tuple[Tenant, Inbox, Membership, Membership]:
    """Workspace ``acme`` with one inbox shared by two agents, Ana and Bruno."""
    tenant = make_tenant("Acme", slug=SLUG, owner=make_user("owner@acme.example", name="Olivia", password=PASSWORD))
    ana = add_member(tenant, BuiltinRole.AGENT, user=make_user("ana@acme.example", name="Ana Agent", password=PASSWORD))
    bruno = add_member(
        tenant, BuiltinRole.AGENT, user=make_user("bruno@acme.example", name="Bruno Agent", password=PASSWORD)
    )
    inbox = make_inbox(tenant, name="Suporte", members=[ana, bruno])
    return tenant, inbox, ana, bruno


def open_inbox(page: Page, user: User, path: str = "") -> None:
    log_in(page, email=user.email, password=PASSWORD)
    page.goto(f"/t/{SLUG}/inbox/{path}")
    expect(page.locator("#inbox[data-live='1']")).to_be_attached(timeout=TIMEOUT_MS)


def pump_until(page: Page, predicate: Callable[[], bool], what: str) -> None:
    """Poll ``predicate`` about Playwright events (WebSocket frames, requests), which the sync API only
    delivers while it is called: each pause is a Playwright call, so the events keep arriving."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out waiting for {what}.")
        page.wait_for_timeout(50)


def counts(page: Page) -> dict[str, str]:
    return {tab: page.locator(f"[data-count='{tab}']").inner_text() for tab in ("mine", "unassigned", "all")}


# --- assigning a conversation away ------------------------------------------------------------------


def test_assigning_away_updates_tab_counts_at_once_with_one_toast_and_no_404(
    page: Page, browser_errors: BrowserErrors
) -> None:
    _tenant, inbox, ana, bruno = workspace()
    hers = make_conversation(inbox, name="Carla Dias", assignee=ana)
    make_message(hers, "Meu pedido atrasou")
    waiting = make_conversation(inbox, name="Davi Souza")
    make_message(waiting, "Alguém aí?")
    frames: list[str] = []

    def on_websocket(ws: WebSocket) -> None:
        ws.on("framereceived", lambda payload: frames.append(payload if isinstance(payload, str) else payload.decode()))

    page.on("websocket", on_websocket)
    not_found: list[str] = []
    page.on("response", lambda r: not_found.append(r.url) if r.status == 404 else None)
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    # The page reads the open conversation's header once it has loaded: that answer is in before the
    # assignment is made, so any later request for it would be the page's own mistake.
    with page.expect_response(lambda r: r.url.endswith(f"/c/{hers.display_id}/header/")):
        open_inbox(page, ana.user, f"c/{hers.display_id}/")
    expect(page.locator(f"li.row#c-{hers.pk}")).to_be_visible()
    assert counts(page) == {"mine": "1", "unassigned": "1", "all": "2"}

    def is_assign(response: Response) -> bool:
        return response.url.endswith(f"/c/{hers.display_id}/assign/") and response.request.method == "POST"

    with page.expect_response(is_assign) as answer:
        page.locator("select[data-assign]").select_option(str(bruno.user_id))
    assert answer.value.status == 200
    assert answer.value.json()["counts"] == {"mine": 0, "unassigned": 1, "all": 1}

    # At once: from the server's answer, without waiting for a resync.
    expect(page.locator("[data-count='mine']")).to_have_text("0")
    expect(page.locator("[data-count='all']")).to_have_text("1")
    expect(page.locator("[data-count='unassigned']")).to_have_text("1")
    expect(page.locator(f"li.row#c-{hers.pk}")).to_have_count(0)
    expect(page.locator(f"[data-pane] .pane[data-conversation='{hers.display_id}']")).to_have_count(0)

    # The real-time event arrives too, before or after the answer: the page applies it without asking
    # the server (no row refresh, never the conversation's own fragments), adds no toast, and its count
    # change is already in the counts the answer brought (read after the event was built).
    def events() -> list[dict]:
        out = []
        for frame in frames:
            data = json.loads(frame)
            out.extend(data["events"] if data.get("type") == "batch" else [data])
        return out

    pump_until(page, lambda: any(e.get("type") == "conversation.hidden" for e in events()), "the event")
    page.evaluate("() => new Promise((resolve) => setTimeout(resolve, 0))")
    assert counts(page) == {"mine": "0", "unassigned": "1", "all": "1"}
    assert not any(f"ids={hers.pk}" in u for u in requested)
    expect(page.locator(".toasts .toast")).to_have_count(1)
    expect(page.locator(".toasts .toast")).to_have_text("The conversation is now assigned to someone else.")
    assert Conversation.objects.get(pk=hers.pk).assignee_id == bruno.user_id
    assert not_found == [], not_found
    browser_errors.assert_none()


# --- the contact drawer -----------------------------------------------------------------------------


def contact_with_history(tenant: Tenant, inbox: Inbox, ana: Membership) -> Conversation:
    """Open conversation of Carla, who also has an earlier, resolved one with a private note in it."""
    current = make_conversation(inbox, name="Carla Dias")
    make_message(current, "Meu pedido atrasou")
    earlier = Conversation.objects.create(
        tenant=tenant,
        display_id=_next_display_id(tenant.pk),
        inbox=inbox,
        contact=current.contact,
        contact_inbox=current.contact_inbox,
        status=Conversation.Status.RESOLVED,
    )
    note = make_message(earlier, "Cliente prefere contato à tarde", direction=Message.Direction.OUTBOUND, private=True)
    Message.objects.filter(pk=note.pk).update(sender_user=ana.user)
    return current


@pytest.mark.parametrize(("width", "height"), [(1100, 800), (390, 844)], ids=["1100px", "390px"])
def test_contact_drawer_opens_from_the_header_and_edits_the_contact(
    page: Page, browser_errors: BrowserErrors, width: int, height: int
) -> None:
    tenant, inbox, ana, _bruno = workspace()
    vip = make_label(tenant, "VIP")
    conversation = contact_with_history(tenant, inbox, ana)
    page.set_viewport_size({"width": width, "height": height})
    open_inbox(page, ana.user, f"c/{conversation.display_id}/")
    drawer = page.locator("#contact-panel")
    toggle = page.locator("[data-pane-head] [data-contact-toggle]")
    expect(drawer).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")

    toggle.click()
    expect(drawer).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(drawer).to_be_focused()
    box = drawer.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box
    # What the wide layout's column shows: earlier conversations, notes, labels.
    earlier = Conversation.objects.exclude(pk=conversation.pk).get(contact=conversation.contact)
    expect(drawer.locator("[data-earlier-conversations]")).to_contain_text(f"#{earlier.display_id}")
    expect(drawer.locator(".notes-list")).to_contain_text("Cliente prefere contato à tarde")
    expect(drawer.locator(".notes-list")).to_contain_text("Ana Agent")

    drawer.get_by_label("Name").fill("Carla Dias Souza")
    drawer.locator(".chip-pick", has_text="VIP").locator("input").check()
    drawer.get_by_role("button", name="Save contact").click()
    expect(drawer.locator("[data-contact-status]")).to_have_text("Saved")
    expect(drawer.get_by_role("button", name="Save contact")).to_be_focused()
    contact = Contact.objects.get(pk=conversation.contact_id)
    assert contact.name == "Carla Dias Souza"
    assert list(contact.labels.values_list("pk", flat=True)) == [vip.pk]

    # Esc closes it and gives the focus back to the button that opened it.
    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()
    expect(toggle).to_be_focused()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    # Its close button does the same.
    toggle.click()
    expect(drawer).to_be_visible()
    drawer.get_by_role("button", name="Close the contact panel").click()
    expect(drawer).to_be_hidden()
    expect(toggle).to_be_focused()
    browser_errors.assert_none()


def test_contact_panel_is_a_column_on_wide_screens_and_the_header_button_moves_focus_into_it(
    page: Page, browser_errors: BrowserErrors
) -> None:
    tenant, inbox, ana, _bruno = workspace()
    conversation = contact_with_history(tenant, inbox, ana)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.add_init_script(
        "document.addEventListener('DOMContentLoaded', () => {"
        " window.__head = document.querySelector('[data-pane-head]'); })"
    )
    open_inbox(page, ana.user, f"c/{conversation.display_id}/")
    # The page re-reads the header once it runs; an unchanged header is left in place (no click lost).
    pump_until(
        page,
        lambda: page.evaluate("performance.getEntriesByType('resource').some((e) => e.name.includes('/header/'))"),
        "the header's first re-read",
    )
    assert page.evaluate("window.__head === document.querySelector('[data-pane-head]')") is True
    panel = page.locator("#contact-panel")
    expect(panel).to_be_visible()
    expect(panel.get_by_role("button", name="Close the contact panel")).to_be_hidden()
    toggle = page.locator("[data-pane-head] [data-contact-toggle]")
    toggle.click()
    expect(panel).to_be_focused()
    page.keyboard.press("Escape")
    expect(toggle).to_be_focused()
    expect(panel).to_be_visible()
    # A change made elsewhere (here: a request outside the page's scripts) re-renders the header when
    # its live event arrives: the keyboard focus stays on the same button.
    status = page.evaluate(
        """(path) => {
          const csrf = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/)[1];
          const body = new FormData();
          body.append("priority", "high");
          return fetch(path, {method: "POST", body, headers: {"X-CSRFToken": csrf, "Accept": "application/json"}})
            .then((r) => r.status);
        }""",
        f"/t/{SLUG}/inbox/c/{conversation.display_id}/priority/",
    )
    assert status == 200
    expect(page.locator("[data-pane-head] [data-priority]")).to_have_value("high")
    expect(toggle).to_be_focused()
    browser_errors.assert_none()


def test_inbox_forms_have_no_inline_handlers_and_enter_in_search_does_not_reload(
    page: Page, browser_errors: BrowserErrors
) -> None:
    _tenant, inbox, ana, _bruno = workspace()
    conversation = make_conversation(inbox, name="Carla Dias")
    make_message(conversation, "Olá")
    open_inbox(page, ana.user, f"c/{conversation.display_id}/")
    # A strict Content-Security-Policy blocks inline handlers: the script prevents these submits instead.
    expect(page.locator("[onsubmit], [onclick], [onchange], [oninput], [onkeydown]")).to_have_count(0)
    page.evaluate("window.__sameDocument = true")
    search = page.locator("[data-search]")
    search.fill("Carla")
    search.press("Enter")
    expect(page.locator(f"li.row#c-{conversation.pk}")).to_be_visible()
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
    browser_errors.assert_none()


# --- a message's own buttons ------------------------------------------------------------------------


def test_reply_button_on_a_message_quotes_it_in_the_composer_and_posts_nothing(
    page: Page, browser_errors: BrowserErrors
) -> None:
    _tenant, inbox, ana, _bruno = workspace()
    conversation = make_conversation(inbox, name="Carla Dias", assignee=ana, last_inbound_at=timezone.now())
    message = make_message(conversation, "Meu pedido atrasou")
    Message.objects.filter(pk=message.pk).update(external_id="wamid.reply-button-1")  # WhatsApp's: it can be quoted
    open_inbox(page, ana.user, f"c/{conversation.display_id}/")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    article = page.locator(f"#m-{message.pk}")
    article.hover()
    article.locator("[data-reply]").click()
    expect(page.locator("[data-reply-to]")).to_be_visible()
    expect(page.locator("[data-reply-to-text]")).to_have_text("↩ Meu pedido atrasou")
    expect(page.locator("[data-text]")).to_be_focused()
    # The message carries its delivery status (data-status): the click is not a status change.
    assert [url for url in posts if not url.endswith("/read/")] == []
    assert Conversation.objects.get(pk=conversation.pk).status == Conversation.Status.OPEN
    expect(page.locator(".toasts .toast")).to_have_count(0)
    browser_errors.assert_none()


# --- muting -------------------------------------------------------------------------------------------


def test_muting_from_the_more_menu_shows_muted_and_unmute_brings_the_resolved_state_back(
    page: Page, browser_errors: BrowserErrors
) -> None:
    _tenant, inbox, ana, _bruno = workspace()
    conversation = make_conversation(inbox, name="Spammer", assignee=ana, last_inbound_at=timezone.now())
    make_message(conversation, "compre seguidores")
    open_inbox(page, ana.user, f"c/{conversation.display_id}/")
    head = page.locator("[data-pane-head]")

    head.locator("details.more-status summary").click()
    head.locator("button[data-mute='1']").click()

    expect(head.locator("[data-muted]")).to_have_text("🔇 Muted", timeout=TIMEOUT_MS)
    expect(head.locator("[data-status-badge]")).to_have_text("Resolved")
    expect(head.locator("button[data-mute='0']")).to_have_text("Unmute")
    expect(page.locator("[data-messages]")).to_contain_text("Ana Agent muted the conversation")
    conversation.refresh_from_db()
    assert (conversation.status, conversation.muted_at is not None) == ("resolved", True)

    head.locator("button[data-mute='0']").click()

    expect(head.locator("[data-muted]")).to_have_count(0, timeout=TIMEOUT_MS)
    expect(head.locator("button[data-status='open']").first).to_have_text("Reopen")
    conversation.refresh_from_db()
    assert (conversation.status, conversation.muted_at) == ("resolved", None)
    expect(page.locator(".toasts .toast.error")).to_have_count(0)
    browser_errors.assert_none()
