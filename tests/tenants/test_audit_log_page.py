"""The audit log page shows names where entries store ids and codes; the stored entries stay as written."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from conversations.actors import AutomationActor
from conversations.services.actions import conversation_assign, conversation_labels_change, conversation_status_set
from conversations.services.contacts import contact_update
from conversations.services.customer_texts import customer_text_set
from conversations.services.library import label_create, quick_reply_create
from conversations.services.outbound import OutboundSpec, message_send
from tenants.models import AuditLogEntry
from tenants.services import membership_change_role, role_builtin
from tenants.templatetags.dates import local_date
from tests.conversations.channel_double import quiet_channel
from tests.conversations.factories import make_conversation, make_inbox
from tests.factories import add_member

pytestmark = pytest.mark.django_db

Action = AuditLogEntry.Action


@pytest.fixture
def ana(tenant):
    member = add_member(tenant, "agent")
    member.user.name = "Ana Souza"
    member.user.save(update_fields=["name"])
    return member


@pytest.fixture
def client(owner):
    c = Client()
    c.force_login(owner.user)
    return c


def details(client: Client, action: str) -> list[str]:
    """The visible details of each entry of one action, newest first, whitespace collapsed."""
    page = client.get("/t/acme/settings/audit-log/", {"action": action})
    assert page.status_code == 200
    cells = re.findall(r'<td class="extra">(.*?)</td>', page.content.decode(), re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in cells]


def test_an_assignment_shows_who_it_went_from_and_to(client, tenant, owner, ana):
    inbox = make_inbox(tenant, name="Vendas", members=[owner, ana])
    conversation = make_conversation(inbox)
    conversation_assign(actor=owner, conversation=conversation, assignee=ana.user)
    conversation_assign(actor=owner, conversation=conversation, assignee=None)
    assert details(client, Action.CONVERSATION_ASSIGNED) == [
        "from Ana Souza to Unassigned",
        "from Unassigned to Ana Souza",
    ]
    # The stored entries keep their ids.
    stored = AuditLogEntry.objects.filter(tenant=tenant, action=Action.CONVERSATION_ASSIGNED).order_by("id")
    assert [e.extra for e in stored] == [{"from": None, "to": ana.user_id}, {"from": ana.user_id, "to": None}]


def test_an_automations_actions_show_under_its_name(client, tenant, owner, ana):
    inbox = make_inbox(tenant, name="Vendas", members=[ana])
    inbox.channel_type = "tests-audit"
    inbox.save(update_fields=["channel_type"])
    conversation = make_conversation(inbox, last_inbound_at=timezone.now() - timedelta(minutes=5))
    bot = AutomationActor(tenant_id=tenant.pk, automation_id=7, name="Round robin")
    with quiet_channel("tests-audit"):
        conversation_assign(actor=bot, conversation=conversation, assignee=ana.user)
        message, _created = message_send(
            actor=bot, conversation=conversation, spec=OutboundSpec(type="text", text="Oi")
        )
    page = client.get("/t/acme/settings/audit-log/").content.decode()
    assert page.count("<td>automation &#x27;Round robin&#x27; (#7)</td>") == 2
    assert details(client, Action.MESSAGE_SENT) == [f"message id {message.pk} type Text"]
    assert details(client, Action.CONVERSATION_ASSIGNED) == ["from Unassigned to Ana Souza"]


def test_labels_show_as_names_not_lists(client, tenant, owner):
    inbox = make_inbox(tenant, members=[owner])
    conversation = make_conversation(inbox)
    vip = label_create(membership=owner, name="vip", color="#ff0000")
    conversation_labels_change(actor=owner, conversation=conversation, add=[vip])
    assert details(client, Action.CONVERSATION_LABELS_CHANGED) == ["added vip removed none"]


def test_a_contact_change_names_the_fields_and_says_none_for_no_labels(client, tenant, owner):
    inbox = make_inbox(tenant, members=[owner])
    conversation = make_conversation(inbox)
    contact_update(actor=owner, contact=conversation.contact, name="Ana Lima", phone="+55 11 91234-5678")
    assert details(client, Action.CONTACT_UPDATED) == ["fields changed name, phone number"]


def test_a_customer_text_change_names_its_languages(client, tenant, owner):
    customer_text_set(actor=owner, key="away", variants={"en": "Away", "pt": "Ausente"})
    customer_text_set(actor=owner, key="away", variants={"pt-br": "Fora", "pt": "Fora do ar"})
    assert details(client, Action.CUSTOMER_TEXT_CHANGED) == [
        "text away added Brazilian Portuguese removed English changed Portuguese"
    ]
    assert details(client, Action.CUSTOMER_TEXT_CREATED) == ["text away languages English, Portuguese"]


def test_an_automation_token_and_the_system_are_named_in_the_viewers_words(client, tenant):
    for label in ("system", "automation 'Round robin' (#7)", "API token ERP"):
        AuditLogEntry.objects.create(tenant=tenant, action=Action.CONTACT_UPDATED, actor_label=label)
    page = client.get("/t/acme/settings/audit-log/").content.decode()
    assert re.findall(r"<td>(the system|automation .*?|API token .*?)</td>", page) == [
        "API token ERP",
        "automation &#x27;Round robin&#x27; (#7)",
        "the system",
    ]


def test_second_factor_events_name_the_method_and_the_step(client, tenant):
    AuditLogEntry.objects.create(tenant=tenant, action=Action.MFA_ENABLED, extra={"type": "totp"})
    AuditLogEntry.objects.create(
        tenant=tenant, action=Action.LOGIN_FAILED, extra={"email": "x@example.com", "stage": "mfa", "type": "webauthn"}
    )
    assert details(client, Action.MFA_ENABLED) == ["type TOTP Authenticator"]
    assert details(client, Action.LOGIN_FAILED) == ["e-mail x@example.com step second factor type WebAuthn"]


def test_a_status_change_shows_status_names_and_the_local_snooze_time(client, tenant, owner):
    inbox = make_inbox(tenant, members=[owner])
    conversation = make_conversation(inbox)
    # 15:30 UTC, two days ahead: 12:30 in the workspace's zone (São Paulo).
    until = (timezone.now() + timedelta(days=2)).replace(hour=15, minute=30, second=0, microsecond=0)
    conversation_status_set(actor=owner, conversation=conversation, status="snoozed", snoozed_until=until)
    with translation.override("en"), timezone.override(ZoneInfo("America/Sao_Paulo")):
        date_text = local_date(until)
    assert details(client, Action.CONVERSATION_STATUS_CHANGED) == [f"from Open to Snoozed until {date_text}, 12:30"]


def test_a_quick_reply_names_its_inbox_or_none(client, tenant, owner):
    inbox = make_inbox(tenant, name="Vendas", members=[owner])
    quick_reply_create(membership=owner, shortcut="oi", text="Olá!")
    quick_reply_create(membership=owner, shortcut="preco", text="Preço", scope="inbox", inbox=inbox)
    assert details(client, Action.QUICK_REPLY_CREATED) == [
        "shortcut preco scope One inbox inbox Vendas attachment none text length 5",
        "shortcut oi scope Everyone in the workspace inbox none attachment none text length 4",
    ]


def test_a_role_change_shows_role_names(client, tenant, owner, ana):
    membership_change_role(actor=owner, membership=ana, role=role_builtin(tenant=tenant, key="supervisor"))
    assert details(client, Action.MEMBER_ROLE_CHANGED) == ["from Agent to Supervisor"]


def test_an_id_of_someone_outside_the_workspace_is_not_named(client, tenant, other_tenant):
    stranger = add_member(other_tenant, "agent")
    stranger.user.name = "Someone Else"
    stranger.user.save(update_fields=["name"])
    AuditLogEntry.objects.create(
        tenant=tenant, action=Action.CONVERSATION_ASSIGNED, extra={"from": None, "to": stranger.user_id}
    )
    assert details(client, Action.CONVERSATION_ASSIGNED) == ["from Unassigned to a former member"]


def _page_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/t/acme/settings/audit-log/").status_code == 200
    return len(queries)


def test_naming_a_page_of_entries_takes_one_query_per_kind_of_name(client, tenant, owner, ana):
    inbox = make_inbox(tenant, name="Vendas", members=[owner, ana])

    def add_entries(n: int) -> None:
        for i in range(n):
            conversation = make_conversation(inbox)
            conversation_assign(actor=owner, conversation=conversation, assignee=ana.user)
            quick_reply_create(membership=owner, shortcut=f"r{n}-{i}", text="x", scope="inbox", inbox=inbox)
            membership_change_role(
                actor=owner, membership=ana, role=role_builtin(tenant=tenant, key="supervisor" if i % 2 else "agent")
            )

    add_entries(2)
    client.get("/t/acme/")  # the first visit records the workspace as the last one used
    few = _page_queries(client)
    add_entries(6)
    many = _page_queries(client)
    # The user and the membership, the filter's members, the count, the page of entries, one query
    # per kind of name on the page (roles, inboxes, people), the workspace switcher's memberships.
    assert few == many == 9
