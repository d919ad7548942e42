"""Settings → Bot flows as an admin uses it: the list with each flow's sessions, a new flow, a ready-made one,
a flow's settings, deleting (refused while customers are in it), the test in the simulator, the sessions'
report and the workspace's keys (never shown back); agents without "manage automations" get 403 and another
workspace's flows are 404."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.utils import timezone

from conversations.models import Conversation, Team
from flows.arming import armed_version
from flows.library import transit_recharge
from flows.models import Flow, FlowSession, FlowSettings, FlowVersion
from flows.services import FlowSpec, draft_save, flow_create, flow_publish, template_install
from tenants.models import AuditLogEntry, Membership
from tests.conversations.factories import make_conversation, make_inbox
from tests.factories import add_member, make_tenant, owner_of

pytestmark = pytest.mark.django_db

LIST = "/t/acme/settings/flows/"


# --- helpers shared with test_pages_editor.py ------------------------------------------------------------------


def signed_in(membership: Membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


class _FormReader(HTMLParser):
    """What a browser would submit from the form with ``form_id`` (its successful controls, in order)."""

    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.fields: list[tuple[str, str]] = []
        self._textarea: str | None = None
        self._text: list[str] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._option: tuple[str | None, bool] | None = None
        self._option_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.inside = values.get("id") == self.form_id
            return
        if not self.inside or "disabled" in values:
            return
        name = values.get("name")
        if tag == "input" and name:
            kind = values.get("type", "text")
            if kind in ("submit", "button", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in values:
                return
            self.fields.append((name, values.get("value") or ("on" if kind == "checkbox" else "")))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []
        elif tag == "select" and name:
            self._select, self._options = name, []
        elif tag == "option" and self._select is not None:
            self._option, self._option_text = (values.get("value"), "selected" in values), []

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)
        if self._option is not None:
            self._option_text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "textarea" and self._textarea is not None:
            # A browser drops the one newline right after <textarea>.
            self.fields.append((self._textarea, "".join(self._text).removeprefix("\n")))
            self._textarea = None
        elif tag == "option" and self._option is not None:
            value, selected = self._option
            self._options.append((value if value is not None else "".join(self._option_text).strip(), selected))
            self._option = None
        elif tag == "select" and self._select is not None:
            chosen = [value for value, selected in self._options if selected] or [v for v, _s in self._options[:1]]
            if chosen:
                self.fields.append((self._select, chosen[-1]))
            self._select = None


def form_values(page: str, form_id: str) -> dict[str, str]:
    reader = _FormReader(form_id)
    reader.feed(page)
    reader.close()
    return dict(reader.fields)


def text_of(page: str) -> str:
    """The page's text with tags dropped and entities read, spaces collapsed."""
    without = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", without)).split())


def element_html(page: str, attribute: str) -> str:
    """The markup of the first element carrying ``attribute`` (``data-count="running"``), nested ones included."""
    opening = re.search(rf"<(\w+)\b[^>]*\s{re.escape(attribute)}[^>]*>", page)
    assert opening, attribute
    tag, depth, position = opening.group(1), 1, opening.end()
    for found in re.finditer(rf"<(/?){tag}\b[^>]*>", page[position:]):
        depth += -1 if found.group(1) else 1
        if depth == 0:
            return page[opening.start() : position + found.end()]
    raise AssertionError(f"{attribute} is not closed")


def element(page: str, attribute: str) -> str:
    """The text of the first element carrying ``attribute``."""
    return text_of(element_html(page, attribute))


def session(
    flow: Flow,
    version: FlowVersion,
    status: str,
    *,
    ended_step: str = "",
    started: timedelta = timedelta(hours=1),
    ended: timedelta | None = timedelta(minutes=30),
    conversation: Conversation | None = None,
) -> FlowSession:
    conversation = conversation or make_conversation(make_inbox(flow.tenant), name="Maria Souza")
    now = timezone.now()
    running = status in FlowSession.RUNNING
    return FlowSession.objects.create(
        tenant_id=flow.tenant_id,
        flow=flow,
        version=version,
        conversation=conversation,
        contact=conversation.contact,
        status=status,
        trigger=FlowSession.Trigger.KEYWORD,
        step=ended_step or "ask_card",
        started_at=now - started,
        last_activity_at=now,
        ended_at=None if running or ended is None else now - ended,
        ended_step="" if running else ended_step,
    )


@pytest.fixture
def recharge(tenant, owner):
    inbox = make_inbox(tenant, name="Recargas")
    return template_install(membership=owner, key="transit_recharge", inbox_id=inbox.pk)


# --- the list --------------------------------------------------------------------------------------------------


def test_the_list_shows_each_flow_with_its_state_triggers_version_and_recent_sessions(tenant, owner, recharge):
    blank = flow_create(membership=owner, spec=FlowSpec(name="Boletos", trigger_first_message=True))
    v1 = recharge.published
    session(recharge, v1, "active")
    session(recharge, v1, "waiting")
    session(recharge, v1, "completed")
    session(recharge, v1, "completed")
    session(recharge, v1, "handed_over")
    session(recharge, v1, "abandoned", ended_step="ask_amount")
    # Ended 31 days ago: not among the last 30 days' sessions.
    session(recharge, v1, "completed", started=timedelta(days=32), ended=timedelta(days=31))

    page = signed_in(owner).get(LIST).content.decode()

    row = re.search(rf'<tr data-flow="{recharge.pk}">.*?</tr>', page, flags=re.S).group(0)
    assert element(row, 'class="cell-title"').startswith("Transit card recharge")
    assert element(row, "data-enabled") == "Off"
    assert "Recargas" in text_of(row)
    assert element(row, "data-triggers") == "Keywords: recarregar, recarga, recharge, top up"
    assert element(row, "data-published") == "Version 1"
    counts = {k: element(row, f'data-count="{k}"') for k in ("running", "completed", "handed_over", "abandoned")}
    assert counts == {"running": "2", "completed": "2", "handed_over": "1", "abandoned": "1"}
    other = re.search(rf'<tr data-flow="{blank.pk}">.*?</tr>', page, flags=re.S).group(0)
    assert element(other, "data-triggers") == "First message"
    assert element(other, "data-published") == "Not published"
    assert "Every inbox" in text_of(other)
    # The settings navigation leads here; the page offers a new flow and the ready-made ones.
    assert f'<a href="{LIST}" aria-current="page">Bot flows</a>' in page
    assert 'action="/t/acme/settings/flows/new/"' in page
    assert 'action="/t/acme/settings/flows/install/"' in page
    assert '<option value="transit_recharge">Transit card recharge</option>' in page


def test_a_new_flow_is_made_empty_and_off_and_opens_in_the_editor(tenant, owner):
    inbox = make_inbox(tenant, name="Vendas")
    response = signed_in(owner).post("/t/acme/settings/flows/new/", {"name": "  Segunda via ", "inbox": inbox.pk})

    flow = Flow.objects.get(tenant=tenant)
    assert response.status_code == 302
    assert response["Location"] == f"/t/acme/settings/flows/{flow.pk}/steps/"
    assert (flow.name, flow.inbox_id, flow.enabled, flow.published_id) == ("Segunda via", inbox.pk, False, None)
    assert list(flow.versions.values_list("number", "status", "definition")) == [
        (1, "draft", {"start": "", "steps": []})
    ]


def test_a_new_flow_without_a_name_or_with_another_workspaces_inbox_is_refused(tenant, owner):
    foreign = make_inbox(make_tenant("Globex", slug="globex"))
    client = signed_in(owner)

    nameless = client.post("/t/acme/settings/flows/new/", {"name": ""})
    foreign_inbox = client.post("/t/acme/settings/flows/new/", {"name": "Boletos", "inbox": foreign.pk})

    assert nameless.status_code == 400
    assert "This field is required." in text_of(nameless.content.decode())
    assert foreign_inbox.status_code == 400
    assert "Select a valid choice." in text_of(foreign_inbox.content.decode())
    assert Flow.objects.count() == 0


def test_installing_the_transit_flow_publishes_it_off_in_the_chosen_inbox(tenant, owner):
    inbox = make_inbox(tenant, name="Recargas")
    response = signed_in(owner).post(
        "/t/acme/settings/flows/install/", {"template": "transit_recharge", "inbox": inbox.pk}, follow=True
    )

    flow = Flow.objects.get(tenant=tenant)
    assert response.redirect_chain == [(f"/t/acme/settings/flows/{flow.pk}/steps/", 302)]
    assert (flow.template_key, flow.inbox_id, flow.enabled) == ("transit_recharge", inbox.pk, False)
    assert flow.published.number == 1
    assert flow.published.definition == transit_recharge()
    assert "Bot flow “Transit card recharge” installed and published. It is off: turn it on in its settings." in (
        text_of(response.content.decode())
    )


def test_an_unknown_ready_made_flow_is_refused(tenant, owner):
    response = signed_in(owner).post("/t/acme/settings/flows/install/", {"template": "pizza"})
    assert response.status_code == 400
    assert "Select a valid choice. pizza is not one of the available choices." in text_of(response.content.decode())
    assert Flow.objects.count() == 0


# --- settings --------------------------------------------------------------------------------------------------


def test_the_settings_form_saves_every_trigger_and_the_hand_over(tenant, owner, recharge):
    team = Team.objects.create(tenant=tenant, name="Financeiro")
    other_inbox = make_inbox(tenant, name="Loja")
    response = signed_in(owner).post(
        f"/t/acme/settings/flows/{recharge.pk}/",
        {
            "name": "Recarga",
            "description": "Cartão de ônibus",
            "inbox": other_inbox.pk,
            "enabled": "on",
            "position": "3",
            "trigger_keywords": "recarga, cartão , ,saldo",
            "trigger_regex": r"^recarg\w*",
            "trigger_first_message": "on",
            "trigger_payloads": "RECARGA",
            "handover_keywords": "atendente, humano",
            "handover_team": team.pk,
            "timeout_minutes": "45",
            "timeout_message": "Encerramos por falta de resposta.",
        },
    )

    assert response.status_code == 302
    flow = Flow.objects.get(pk=recharge.pk)
    assert {
        "name": flow.name,
        "description": flow.description,
        "inbox": flow.inbox_id,
        "enabled": flow.enabled,
        "position": flow.position,
        "keywords": flow.trigger_keywords,
        "regex": flow.trigger_regex,
        "first": flow.trigger_first_message,
        "outside": flow.trigger_outside_hours,
        "payloads": flow.trigger_payloads,
        "handover": flow.handover_keywords,
        "team": flow.handover_team_id,
        "timeout": flow.timeout_minutes,
        "message": flow.timeout_message,
    } == {
        "name": "Recarga",
        "description": "Cartão de ônibus",
        "inbox": other_inbox.pk,
        "enabled": True,
        "position": 3,
        "keywords": ["recarga", "cartão", "saldo"],
        "regex": r"^recarg\w*",
        "first": True,
        "outside": False,
        "payloads": ["RECARGA"],
        "handover": ["atendente", "humano"],
        "team": team.pk,
        "timeout": 45,
        "message": "Encerramos por falta de resposta.",
    }
    # The form shows them back as saved.
    values = form_values(signed_in(owner).get(f"/t/acme/settings/flows/{flow.pk}/").content.decode(), "flow-settings")
    assert values["trigger_keywords"] == "recarga, cartão, saldo"
    assert values["handover_team"] == str(team.pk)
    assert values["enabled"] == "on"


def test_turning_on_a_flow_never_published_is_refused_with_the_reason(tenant, owner):
    flow = flow_create(membership=owner, spec=FlowSpec(name="Boletos"))
    form = form_values(signed_in(owner).get(f"/t/acme/settings/flows/{flow.pk}/").content.decode(), "flow-settings")

    response = signed_in(owner).post(f"/t/acme/settings/flows/{flow.pk}/", {**form, "enabled": "on"})

    assert response.status_code == 400
    assert "Publish the flow before turning it on." in text_of(response.content.decode())
    assert Flow.objects.get(pk=flow.pk).enabled is False


def test_a_bad_regular_expression_is_refused_by_its_field(tenant, owner, recharge):
    form = form_values(signed_in(owner).get(f"/t/acme/settings/flows/{recharge.pk}/").content.decode(), "flow-settings")
    response = signed_in(owner).post(f"/t/acme/settings/flows/{recharge.pk}/", {**form, "trigger_regex": "(recarga"})

    assert response.status_code == 400
    page = response.content.decode()
    assert re.search(r'field has-error">\s*<label for="id_trigger_regex">', page)
    assert "This regular expression is not valid: missing ), unterminated subpattern at position 0" in text_of(page)
    assert Flow.objects.get(pk=recharge.pk).trigger_regex == ""


# --- deleting --------------------------------------------------------------------------------------------------


def test_deleting_a_flow_with_customers_in_it_is_refused_with_a_clear_message(tenant, owner, recharge):
    session(recharge, recharge.published, "active")

    response = signed_in(owner).post(f"/t/acme/settings/flows/{recharge.pk}/delete/", follow=True)

    assert response.redirect_chain == [(LIST, 302)]
    assert "Customers are in this flow now: turn it off and try again when their sessions end." in text_of(
        response.content.decode()
    )
    assert Flow.objects.filter(pk=recharge.pk).exists()
    assert not AuditLogEntry.objects.filter(action="flow.deleted").exists()


def test_deleting_a_flow_whose_sessions_ended_removes_it_and_them(tenant, owner, recharge):
    session(recharge, recharge.published, "completed")

    response = signed_in(owner).post(f"/t/acme/settings/flows/{recharge.pk}/delete/", follow=True)

    assert "Bot flow “Transit card recharge” deleted." in text_of(response.content.decode())
    assert not Flow.objects.filter(pk=recharge.pk).exists()
    assert FlowSession.objects.count() == 0


# --- the test in the simulator ---------------------------------------------------------------------------------


def test_a_test_arms_the_draft_for_the_number_and_links_to_the_simulator(tenant, owner, recharge, settings):
    settings.WHATSAPP_API_BASE_URL = "http://127.0.0.1:8001"
    response = signed_in(owner).post(f"/t/acme/settings/flows/{recharge.pk}/test/", {"phone": "+55 11 98765-0001"})

    assert response.status_code == 200
    page = response.content.decode()
    assert element(page, "data-armed") == (
        "Send any message from +5511987650001 in the simulator within 30 minutes to start the draft. Open the simulator"
    )
    assert 'href="http://127.0.0.1:8001/simulator/?customer=5511987650001"' in page
    armed = armed_version(tenant.pk, "+5511987650001")
    assert (armed.flow_id, armed.status, armed.number) == (recharge.pk, "draft", 2)


def test_a_test_of_a_draft_that_cannot_be_published_shows_why_and_arms_nothing(tenant, owner, recharge):
    draft_save(membership=owner, flow=recharge, definition={"start": "a", "steps": [{"id": "a", "type": "end"}]})

    response = signed_in(owner).post(f"/t/acme/settings/flows/{recharge.pk}/test/", {"phone": "+5511987650001"})

    assert response.status_code == 400
    assert "a · name: Required." in text_of(response.content.decode())
    assert armed_version(tenant.pk, "+5511987650001") is None


def test_a_test_with_a_number_that_is_not_one_is_refused(tenant, owner, recharge):
    response = signed_in(owner).post(f"/t/acme/settings/flows/{recharge.pk}/test/", {"phone": "ligar"})
    assert response.status_code == 400
    assert "Enter a phone number such as +55 11 91234-5678." in text_of(response.content.decode())


def test_against_meta_itself_the_test_page_offers_no_simulator(tenant, owner, recharge, settings):
    settings.WHATSAPP_API_BASE_URL = "https://graph.facebook.com"
    page = signed_in(owner).post(f"/t/acme/settings/flows/{recharge.pk}/test/", {"phone": "+5511987650001"})
    assert "data-simulator" not in page.content.decode()


# --- the sessions' report --------------------------------------------------------------------------------------


def test_the_report_counts_sessions_by_how_they_ended_and_where_customers_gave_up(tenant, owner, recharge):
    v1 = recharge.published
    draft = draft_save(membership=owner, flow=recharge, definition=transit_recharge())
    draft.definition["steps"][3]["name"] = "Quanto recarregar"
    draft.save()
    v2 = flow_publish(membership=owner, flow=recharge)
    for status in ("completed", "completed", "completed", "handed_over", "stopped", "failed"):
        session(recharge, v1, status)
    session(recharge, v1, "abandoned", ended_step="ask_amount")
    session(recharge, v2, "abandoned", ended_step="ask_amount")
    session(recharge, v2, "abandoned", ended_step="ask_card")
    latest = session(recharge, v2, "active", started=timedelta(minutes=1))

    page = signed_in(owner).get(f"/t/acme/settings/flows/{recharge.pk}/sessions/").content.decode()

    figures = {key: element(page, f'data-figure="{key}"') for key in ("started", "completed", "handed_over")}
    assert figures == {"started": "Started 10", "completed": "Completed 3", "handed_over": "Handed over 1"}
    assert element(page, 'data-figure="abandoned"') == "Abandoned 3"
    assert element(page, 'data-figure="stopped"') == "Stopped by an agent 1"
    assert element(page, 'data-figure="failed"') == "Failed 1"
    assert element(page, 'data-figure="running"') == "Running now 1"
    assert element(page, 'data-figure="rate"') == "Completion rate 30%"
    # The step's name in the newest version it has.
    assert element(page, 'data-abandoned="ask_amount"') == "Quanto recarregar (ask_amount) 2"
    assert element(page, 'data-abandoned="ask_card"') == "Card number (ask_card) 1"
    row = re.search(rf'<tr data-session="{latest.pk}">.*?</tr>', page, flags=re.S).group(0)
    display_id = latest.conversation.display_id
    assert f'href="/t/acme/inbox/c/{display_id}/"' in row
    assert text_of(row).endswith(f"Maria Souza #{display_id} 2 Keyword Running Card number")

    by_version = signed_in(owner).get(f"/t/acme/settings/flows/{recharge.pk}/sessions/", {"version": "2"})
    assert element(by_version.content.decode(), 'data-figure="started"') == "Started 3"
    assert element(by_version.content.decode(), 'data-figure="rate"') == "Completion rate 0%"


def test_the_report_filters_by_the_days_sessions_started(tenant, owner, recharge):
    today = timezone.localdate()
    session(recharge, recharge.published, "completed", started=timedelta(days=10), ended=timedelta(days=10))
    session(recharge, recharge.published, "completed", started=timedelta(minutes=5), ended=timedelta(minutes=1))
    client = signed_in(owner)
    url = f"/t/acme/settings/flows/{recharge.pk}/sessions/"

    recent = client.get(url, {"since": (today - timedelta(days=2)).isoformat(), "until": today.isoformat()})
    backwards = client.get(url, {"since": today.isoformat(), "until": (today - timedelta(days=2)).isoformat()})

    assert element(recent.content.decode(), 'data-figure="started"') == "Started 1"
    assert backwards.status_code == 400
    assert "The end of the range is before its start." in text_of(backwards.content.decode())


# --- keys ------------------------------------------------------------------------------------------------------


def test_a_generated_integration_secret_is_shown_once_and_stored_encrypted(tenant, owner):
    client = signed_in(owner)
    response = client.post("/t/acme/settings/flows/keys/", {"action": "generate"})

    secret = element(response.content.decode(), "data-new-secret")
    assert len(secret) == 43
    assert "no-store" in response["Cache-Control"]
    stored = FlowSettings.objects.get(tenant=tenant)
    assert stored.secrets == {"integration_secret": secret}
    assert secret not in stored.secrets_encrypted
    again = client.get("/t/acme/settings/flows/keys/").content.decode()
    assert secret not in again
    assert element(again, 'data-key="integration_secret"').count("Set") == 1
    assert "Not set" not in element(again, 'data-key="integration_secret"')


def test_the_transit_key_is_written_never_shown_and_can_be_removed(tenant, owner):
    client = signed_in(owner)
    saved = client.post("/t/acme/settings/flows/keys/", {"action": "transit", "transit_api_key": "tk_live_9f8e7d"})
    assert saved.status_code == 302
    assert FlowSettings.objects.get(tenant=tenant).secrets == {"transit_api_key": "tk_live_9f8e7d"}

    page = client.get("/t/acme/settings/flows/keys/").content.decode()
    assert "tk_live_9f8e7d" not in page
    assert "Set" in element(page, 'data-key="transit_api_key"')
    assert 'name="transit_api_key"' in page and 'value="tk_live' not in page

    client.post("/t/acme/settings/flows/keys/", {"action": "remove_transit"})
    assert FlowSettings.objects.get(tenant=tenant).secrets == {}
    assert "Not set" in element(
        client.get("/t/acme/settings/flows/keys/").content.decode(), 'data-key="transit_api_key"'
    )


def test_an_empty_transit_key_is_refused_and_keeps_the_one_set(tenant, owner):
    client = signed_in(owner)
    client.post("/t/acme/settings/flows/keys/", {"action": "transit", "transit_api_key": "tk_live_9f8e7d"})
    response = client.post("/t/acme/settings/flows/keys/", {"action": "transit", "transit_api_key": ""})
    assert response.status_code == 400
    assert FlowSettings.objects.get(tenant=tenant).secrets == {"transit_api_key": "tk_live_9f8e7d"}


# --- who may ---------------------------------------------------------------------------------------------------


def flow_urls(flow: Flow) -> list[str]:
    base = f"/t/{flow.tenant.slug}/settings/flows/"
    return [
        base,
        f"{base}new/",
        f"{base}install/",
        f"{base}keys/",
        f"{base}{flow.pk}/",
        f"{base}{flow.pk}/steps/",
        f"{base}{flow.pk}/versions/1/",
        f"{base}{flow.pk}/test/",
        f"{base}{flow.pk}/sessions/",
    ]


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_members_without_manage_automations_get_403_and_change_nothing(tenant, recharge, role):
    client = signed_in(add_member(tenant, role))
    before = list(Flow.objects.values_list("pk", "name", "enabled"))

    answers = {url: client.get(url).status_code for url in flow_urls(recharge)}
    posts = {
        f"/t/acme/settings/flows/{recharge.pk}/delete/": client.post(f"/t/acme/settings/flows/{recharge.pk}/delete/"),
        "/t/acme/settings/flows/keys/": client.post("/t/acme/settings/flows/keys/", {"action": "generate"}),
    }

    assert set(answers.values()) == {403}
    assert {url: r.status_code for url, r in posts.items()} == dict.fromkeys(posts, 403)
    assert list(Flow.objects.values_list("pk", "name", "enabled")) == before
    assert not FlowSettings.objects.exists()


def test_another_workspaces_flow_is_not_found(tenant, recharge):
    stranger = owner_of(make_tenant("Globex", slug="globex"))
    client = signed_in(stranger)
    own = [url.replace("/t/acme/", "/t/globex/") for url in flow_urls(recharge)[4:]]

    assert {url: client.get(url).status_code for url in own} == dict.fromkeys(own, 404)
    assert client.post(f"/t/globex/settings/flows/{recharge.pk}/delete/").status_code == 404
    assert client.post(f"/t/globex/settings/flows/{recharge.pk}/preview/", {"preview": "0"}).status_code == 404
    assert Flow.objects.filter(pk=recharge.pk).exists()
