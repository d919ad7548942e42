"""wa.me links: created with a reference of their own or a given one, changed, archived and audited; their url
and QR code carry exactly the prefilled text and its token, to the inbox's own number."""

from __future__ import annotations

import io
import itertools
import struct
import zlib
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import pytest
import segno
from django.utils import timezone

from conversations import channels
from conversations.models import Inbox, Message
from conversations.services.inbound import InboundSpec, message_receive
from flows import audit
from flows.links import (
    entry_link_archive,
    entry_link_create,
    entry_link_update,
    link_qr,
    link_text,
    wa_me_url,
)
from flows.models import EntryLink, Flow
from helpdesk.exceptions import Conflict, PermissionDenied, ValidationFailed
from tenants.models import AuditLogEntry, Membership
from tests.conversations.factories import make_inbox
from tests.factories import owner_of
from tests.whatsapp.conftest import make_channel

pytestmark = pytest.mark.django_db

NUMBER = "5511900000001"  # make_channel's "+55 11 90000-0001"
_wamids = itertools.count(1)


# --- helpers the other tests of links use -----------------------------------------------------------------


def whatsapp_inbox(
    tenant: Any, *, phone_number_id: str = "106540352242922", number: str = "+55 11 90000-0001"
) -> Inbox:
    channel = make_channel(tenant, phone_number_id=phone_number_id, display_phone_number=number)
    return channel.inbox


def link_on(inbox: Inbox, *, ref: str | None = None, text: str = "Olá! Vi a vitrine", **fields: Any) -> EntryLink:
    owner = owner_of(inbox.tenant)
    fields = {"name": "Vitrine", "kind": EntryLink.Kind.SHOP_WINDOW} | fields
    return entry_link_create(actor=owner, inbox=inbox, text=text, ref=ref, **fields)


def receive(
    inbox: Inbox,
    text: str = "",
    *,
    wa_id: str = "5511987650001",
    referral: dict[str, Any] | None = None,
    when: datetime | None = None,
) -> Message:
    """A customer's message stored as the channel stores it (no subscriber runs: nothing is committed)."""
    spec = InboundSpec(
        source_id=wa_id,
        external_id=f"wamid.links-{next(_wamids)}",
        occurred_at=when or timezone.now(),
        type="text",
        text=text,
        referral=referral,
    )
    message, _created = message_receive(inbox=inbox, spec=spec)
    return message


def png_modules(png: bytes, *, scale: int = 10, border: int = 4) -> list[list[bool]]:
    """The dark modules of a 1-bit greyscale PNG QR code (as segno writes them), read back from its pixels."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    data = b""
    while pos < len(png):
        (size,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + size]
        if kind == b"IDAT":
            data += body
        chunks[kind] = body
        pos += 12 + size
    width, height, depth, colour, _c, _f, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour, interlace) == (1, 0, 0)
    raw = zlib.decompress(data)
    stride = (width + 7) // 8
    rows: list[bytes] = []
    previous = bytes(stride)
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        row_filter, scan = line[0], bytearray(line[1:])
        for i in range(stride):
            left = scan[i - 1] if i else 0
            up, corner = previous[i], previous[i - 1] if i else 0
            if row_filter == 1:
                scan[i] = (scan[i] + left) & 0xFF
            elif row_filter == 2:
                scan[i] = (scan[i] + up) & 0xFF
            elif row_filter == 3:
                scan[i] = (scan[i] + (left + up) // 2) & 0xFF
            elif row_filter == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                scan[i] = (scan[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(bytes(scan))
        previous = bytes(scan)

    def dark(x: int, y: int) -> bool:
        return not (rows[y][x // 8] >> (7 - x % 8)) & 1  # 0 is black

    size = width // scale - 2 * border
    middle = scale // 2
    return [
        [dark((border + c) * scale + middle, (border + r) * scale + middle) for c in range(size)] for r in range(size)
    ]


def matrix(url: str) -> list[list[bool]]:
    return [[bool(module) for module in row] for row in segno.make_qr(url, error="m").matrix]


# --- creating ------------------------------------------------------------------------------------------------


def test_a_link_gets_a_short_lowercase_reference_unique_in_the_workspace(tenant):
    inbox = whatsapp_inbox(tenant)
    refs = {link_on(inbox, name=f"Flyer {n}").ref for n in range(20)}

    assert len(refs) == 20
    assert all(len(ref) == 8 and ref.isascii() and ref.isalnum() and ref == ref.lower() for ref in refs)
    assert EntryLink.objects.filter(tenant=tenant).count() == 20


def test_a_given_reference_is_kept_lowercased_and_checked(tenant):
    inbox = whatsapp_inbox(tenant)

    assert link_on(inbox, ref=" Vitrine01 ").ref == "vitrine01"
    for bad in ("abc12", "a" * 33, "vitrine-01", "vitrinê01", ""):
        with pytest.raises(ValidationFailed) as refused:
            link_on(inbox, ref=bad)
        assert refused.value.details["field"] == "ref"
    with pytest.raises(ValidationFailed) as taken:
        link_on(inbox, ref="VITRINE01")
    assert taken.value.details == {"field": "ref", "code": "duplicate"}
    assert list(EntryLink.objects.filter(tenant=tenant).values_list("ref", flat=True)) == ["vitrine01"]


def test_the_same_reference_in_two_workspaces_is_two_links(tenant, other_tenant):
    mine = link_on(whatsapp_inbox(tenant), ref="vitrine01")
    theirs = link_on(whatsapp_inbox(other_tenant, phone_number_id="2002", number="+55 21 3000-0002"), ref="vitrine01")

    assert (mine.ref, theirs.ref) == ("vitrine01", "vitrine01")
    assert mine.pk != theirs.pk


def test_creating_is_refused_to_an_agent_and_for_another_workspaces_inbox_or_flow(tenant, other_tenant, agent):
    inbox = whatsapp_inbox(tenant)
    foreign_inbox = whatsapp_inbox(other_tenant, phone_number_id="2002", number="+55 21 3000-0002")
    foreign_flow = Flow.objects.create(tenant=other_tenant, name="Recarga")
    owner = owner_of(tenant)

    with pytest.raises(PermissionDenied):
        entry_link_create(actor=agent, inbox=inbox, name="Flyer", kind="flyer", text="Oi")
    with pytest.raises(ValidationFailed) as inbox_refused:
        entry_link_create(actor=owner, inbox=foreign_inbox, name="Flyer", kind="flyer", text="Oi")
    with pytest.raises(ValidationFailed) as flow_refused:
        entry_link_create(actor=owner, inbox=inbox, name="Flyer", kind="flyer", text="Oi", flow=foreign_flow)

    assert inbox_refused.value.details["field"] == "inbox"
    assert flow_refused.value.details["field"] == "flow"
    assert EntryLink.objects.count() == 0
    assert not AuditLogEntry.objects.filter(action__startswith="entry_link.").exists()


def test_a_flow_of_another_inbox_cannot_be_bound(tenant):
    inbox = whatsapp_inbox(tenant)
    elsewhere = whatsapp_inbox(tenant, phone_number_id="3003", number="+55 11 3000-0003")
    flow = Flow.objects.create(tenant=tenant, name="Recarga", inbox=elsewhere)

    with pytest.raises(ValidationFailed) as refused:
        link_on(inbox, flow=flow)

    assert refused.value.details["field"] == "flow"
    assert link_on(inbox, flow=Flow.objects.create(tenant=tenant, name="Todas")).flow.name == "Todas"


def test_an_inbox_whose_channel_has_no_phone_number_gets_no_link(tenant):
    inbox = make_inbox(tenant)  # a WhatsApp inbox whose number is no longer connected

    with pytest.raises(ValidationFailed) as refused:
        link_on(inbox)

    assert refused.value.details["field"] == "inbox"
    assert EntryLink.objects.count() == 0


def test_creating_changing_archiving_and_restoring_are_audited(tenant):
    inbox = whatsapp_inbox(tenant)
    owner: Membership = owner_of(tenant)
    flow = Flow.objects.create(tenant=tenant, name="Recarga")
    link = link_on(inbox, ref="vitrine01", text="  Olá!  ")

    entry_link_update(actor=owner, link=link, name="Vitrine", kind="shop_window", text="Olá!", flow=None)  # no change
    link = entry_link_update(actor=owner, link=link, name="Vitrine Augusta", kind="flyer", text="Olá!", flow=flow)
    entry_link_archive(actor=owner, link=link)
    entry_link_archive(actor=owner, link=link)  # already archived: nothing to record
    entry_link_archive(actor=owner, link=link, archived=False)

    entries = list(AuditLogEntry.objects.filter(tenant=tenant, target_type="flows.entrylink").order_by("id"))
    assert [(e.action, e.actor_id, e.target_id) for e in entries] == [
        (audit.LINK_CREATED, owner.user_id, str(link.pk)),
        (audit.LINK_CHANGED, owner.user_id, str(link.pk)),
        (audit.LINK_ARCHIVED, owner.user_id, str(link.pk)),
        (audit.LINK_RESTORED, owner.user_id, str(link.pk)),
    ]
    assert entries[0].extra == {
        "name": "Vitrine",
        "kind": "shop_window",
        "inbox_id": inbox.pk,
        "ref": "vitrine01",
        "text": "Olá!",
        "flow_id": None,
    }
    assert entries[1].extra == {
        "changes": {
            "name": ["Vitrine", "Vitrine Augusta"],
            "kind": ["shop_window", "flyer"],
            "flow_id": [None, flow.pk],
        }
    }
    link.refresh_from_db()
    assert (link.name, link.kind, link.flow_id, link.archived, link.ref, link.inbox_id) == (
        "Vitrine Augusta",
        "flyer",
        flow.pk,
        False,
        "vitrine01",
        inbox.pk,
    )


# --- the url and the QR code ---------------------------------------------------------------------------------


def test_the_url_opens_the_inboxs_number_with_the_text_and_the_token(tenant):
    link = link_on(whatsapp_inbox(tenant), ref="vitrine01", text="Olá! Quero a promoção & o cupom")

    assert link_text(link) == "Olá! Quero a promoção & o cupom [#vitrine01]"
    assert wa_me_url(link) == (
        "https://wa.me/5511900000001?text=Ol%C3%A1%21%20Quero%20a%20promo%C3%A7%C3%A3o%20%26%20o%20cupom%20%5B%23vitrine01%5D"
    )
    assert unquote(wa_me_url(link).partition("?text=")[2]) == "Olá! Quero a promoção & o cupom [#vitrine01]"


def test_a_link_without_text_opens_with_its_token_alone(tenant):
    link = link_on(whatsapp_inbox(tenant), ref="flyer2026", text="")

    assert wa_me_url(link) == "https://wa.me/5511900000001?text=%5B%23flyer2026%5D"


def test_the_qr_codes_encode_exactly_the_url(tenant):
    link = link_on(whatsapp_inbox(tenant), ref="vitrine01", text="Olá! Vi a vitrine")
    url = "https://wa.me/5511900000001?text=Ol%C3%A1%21%20Vi%20a%20vitrine%20%5B%23vitrine01%5D"

    png = link_qr(link, "png")
    svg = link_qr(link, "svg")

    assert png_modules(png) == matrix(url)
    assert png_modules(png) != matrix(url.replace("vitrine01", "vitrine02"))
    expected = io.BytesIO()
    segno.make_qr(url, error="m").save(
        expected, kind="svg", scale=10, border=4, dark="#000", light="#fff", title="Vitrine"
    )
    assert svg == expected.getvalue()
    assert svg.startswith(b"<?xml") and b"<title>Vitrine</title>" in svg
    with pytest.raises(ValidationFailed):
        link_qr(link, "gif")  # type: ignore[arg-type]


def test_a_link_whose_number_is_gone_has_no_url(tenant):
    link = link_on(whatsapp_inbox(tenant))
    link.inbox.whatsapp_channel.delete()  # type: ignore[attr-defined]
    link.inbox.refresh_from_db()

    with pytest.raises(Conflict) as refused:
        wa_me_url(link)

    assert refused.value.code == "no_phone_number"


def test_the_phone_number_comes_from_the_channel_backend(tenant):
    inbox = whatsapp_inbox(tenant, number="+55 (11) 3000-1000")

    assert channels.phone_number_of(inbox) == "+551130001000"
    assert channels.phone_number_of(make_inbox(tenant)) is None  # a WhatsApp inbox without a channel row
