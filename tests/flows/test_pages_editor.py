"""The flow editor: every step type read into its form and back unchanged, edits stored as posted (amounts
written in reais kept in centavos), steps added, removed, moved and renamed, publishing with every problem next
to its step and field, the published versions read-only, the preview of each message (escaped: customers' and
admins' texts are not markup) and the diagram of the whole flow."""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from django.test import Client

from conversations.models import Team
from flows.library import transit_recharge
from flows.models import Flow, FlowVersion
from flows.services import FlowSpec, draft_save, flow_create, template_install
from tests.conversations.factories import make_inbox
from tests.flows.test_pages import element, element_html, form_values, signed_in, text_of

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def recharge(tenant, owner) -> Flow:
    return template_install(membership=owner, key="transit_recharge", inbox_id=make_inbox(tenant).pk)


def editor_url(flow: Flow) -> str:
    return f"/t/{flow.tenant.slug}/settings/flows/{flow.pk}/steps/"


def shown_form(client: Client, flow: Flow) -> dict[str, str]:
    page = client.get(editor_url(flow))
    assert page.status_code == 200
    return form_values(page.content.decode(), "flow-editor")


def draft_definition(flow: Flow) -> Any:
    return FlowVersion.objects.get(flow=flow, status="draft").definition


def field_name(values: dict[str, str], step_id: str, name: str) -> str:
    """The form's name of a step's field (``s3-text`` for ``ask_amount``'s text)."""
    prefix = next(key[: -len("-id")] for key, value in values.items() if key.endswith("-id") and value == step_id)
    return f"{prefix}-{name}"


def every_kind(team_id: int) -> dict[str, Any]:
    """A flow with every type of step and every setting the editor has a field for."""
    return {
        "start": "hello",
        "steps": [
            {
                "id": "hello",
                "name": "Olá",
                "type": "message",
                "text": "Oi {{contact.first_name}}!\nBem-vinda.",
                "media": {"type": "image", "link": "https://example.com/a.png"},
                "cta": {"text": "Site", "url": "https://example.com/"},
                "next": "menu",
                "note": "a key the editor has no field for",
            },
            {
                "id": "offers",
                "name": "Ofertas",
                "type": "message",
                "products": {"skus": ["A1", "B2"], "header": "Ofertas"},
                "next": "menu",
            },
            {
                "id": "menu",
                "name": "Menu",
                "type": "ask",
                "input": "list",
                "text": "Escolha uma opção",
                "list_button": "Ver opções",
                "choices": [
                    {"id": "pay", "title": "Pagar", "description": "Pix ou cartão", "value": "pay", "next": "amount"},
                    {"id": "talk", "title": "Falar", "next": "person"},
                ],
                "save_as": "choice",
                "retry_text": "Escolha da lista.",
                "max_retries": 1,
                "on_fail": "person",
            },
            {
                "id": "amount",
                "name": "Valor",
                "type": "ask",
                "input": "buttons",
                "text": "Quanto?",
                "choices": [{"id": "r10", "title": "R$ 10", "value": 1000}],
                "validate": {"kind": "amount", "min": 500, "max": 20000},
                "save_as": "amount",
                "max_retries": 2,
                "next": "email",
            },
            {
                "id": "email",
                "name": "E-mail",
                "type": "ask",
                "input": "text",
                "text": "Seu e-mail?",
                "validate": {"kind": "regex", "pattern": r"^[a-z]+@x\.com$"},
                "save_as": "email",
                "next": "route",
            },
            {
                "id": "route",
                "name": "Rota",
                "type": "branch",
                "rules": [
                    {"if": {"subject": "variable", "name": "amount", "op": "gte", "value": "10000"}, "next": "tag"},
                    {"if": {"subject": "hours", "op": "closed"}, "next": "person"},
                ],
                "default": "call",
            },
            {
                "id": "tag",
                "name": "Marcar",
                "type": "set",
                "attribute": "vip",
                "value": "{{amount}}",
                "label": "VIP",
                "next": "call",
            },
            {
                "id": "call",
                "name": "ERP",
                "type": "integration",
                "url": "https://erp.example.com/hook",
                "save_as": "erp",
                "next": "card",
                "on_error": "person",
            },
            {
                "id": "card",
                "name": "Cartão",
                "type": "transit",
                "action": "lookup",
                "card": "{{card_number}}",
                "save_as": "card",
                "next": "charge",
                "on_error": "person",
            },
            {
                "id": "charge",
                "name": "Cobrança",
                "type": "payment",
                "amount": 2500,
                "description": "Recarga {{card_number}}",
                "method": "pix",
                "timeout_minutes": 30,
                "reminder_minutes": 10,
                "reminder_text": "Falta pagar {{amount|money}}",
                "next": "bye",
                "on_timeout": "person",
                "on_error": "person",
            },
            {"id": "person", "name": "Pessoa", "type": "handover", "text": "Um momento", "team": team_id},
            {"id": "bye", "name": "Tchau", "type": "end", "text": "Obrigado!", "csat": True},
            {"id": "legacy", "name": "Antigo", "type": "carousel", "cards": [1, 2]},
        ],
    }


# --- reading and storing ---------------------------------------------------------------------------------------


def test_the_ready_made_flow_reads_into_its_forms_and_back_unchanged(tenant, owner, recharge):
    client = signed_in(owner)
    values = shown_form(client, recharge)
    # Amounts show in reais, as people write them.
    assert values[field_name(values, "ask_amount", "r0-value")] == "10.00"
    assert values[field_name(values, "ask_amount", "validate_min")] == "5.00"
    assert values["start"] == "ask_card"

    response = client.post(editor_url(recharge), {**values, "action": "save"})

    assert response.status_code == 302
    assert draft_definition(recharge) == transit_recharge()
    assert FlowVersion.objects.get(flow=recharge, status="draft").number == 2


def test_every_type_of_step_reads_into_its_form_and_back_unchanged(tenant, owner):
    team = Team.objects.create(tenant=tenant, name="Financeiro")
    flow = flow_create(membership=owner, spec=FlowSpec(name="Tudo"))
    definition = every_kind(team.pk)
    draft_save(membership=owner, flow=flow, definition=copy.deepcopy(definition))
    client = signed_in(owner)

    response = client.post(editor_url(flow), {**shown_form(client, flow), "action": "save"})

    assert response.status_code == 302
    assert draft_definition(flow) == definition


def test_what_the_forms_post_is_what_the_draft_stores(tenant, owner, recharge):
    client = signed_in(owner)
    values = shown_form(client, recharge)

    def set_field(step_id: str, name: str, value: str) -> None:
        values[field_name(values, step_id, name)] = value

    set_field("ask_amount", "text", "Quanto quer pôr no cartão de {{card.holder_name}}?")
    set_field("ask_amount", "r0-value", "12.50")
    set_field("ask_amount", "validate_max", "150")
    # The empty row after the three choices, filled in: its id is made from its title.
    set_field("ask_amount", "r3-title", "R$ 100")
    set_field("ask_amount", "r3-value", "100,00".replace(",", "."))
    set_field("pay", "amount", "19.90")
    set_field("pay", "reminder_minutes", "")
    set_field("receipt", "csat", "on")

    assert client.post(editor_url(recharge), {**values, "action": "save"}).status_code == 302

    expected = transit_recharge()
    steps = {step["id"]: step for step in expected["steps"]}
    steps["ask_amount"]["text"] = "Quanto quer pôr no cartão de {{card.holder_name}}?"
    steps["ask_amount"]["choices"][0]["value"] = 1250
    steps["ask_amount"]["validate"]["max"] = 15000
    steps["ask_amount"]["choices"].append({"id": "r_100", "title": "R$ 100", "value": 10000})
    steps["pay"]["amount"] = 1990
    del steps["pay"]["reminder_minutes"]
    steps["receipt"]["csat"] = True
    assert draft_definition(recharge) == expected


def test_an_amount_that_is_not_one_is_a_400_that_keeps_everything_typed(tenant, owner, recharge):
    client = signed_in(owner)
    values = shown_form(client, recharge)
    values[field_name(values, "ask_amount", "text")] = "Texto novo que não se perde"
    values[field_name(values, "pay", "amount")] = "vinte reais"

    response = client.post(editor_url(recharge), {**values, "action": "save"})

    assert response.status_code == 400
    page = response.content.decode()
    assert "Nothing was saved: correct the fields marked below." in text_of(page)
    card = text_of(element_html(page, 'id="step-pay"'))
    assert "Write an amount such as R$25.00." in card
    again = form_values(page, "flow-editor")
    assert again[field_name(values, "ask_amount", "text")] == "Texto novo que não se perde"
    assert again[field_name(values, "pay", "amount")] == "vinte reais"
    # Nothing stored: no draft was made from the published version.
    assert list(FlowVersion.objects.filter(flow=recharge).values_list("number", "status")) == [(1, "published")]


def test_two_steps_with_one_id_or_an_id_with_spaces_are_refused(tenant, owner, recharge):
    client = signed_in(owner)
    values = shown_form(client, recharge)
    values[field_name(values, "receipt", "id")] = "lookup"
    values[field_name(values, "pay_failed", "id")] = "pay failed"

    response = client.post(editor_url(recharge), {**values, "action": "save"})

    assert response.status_code == 400
    page = text_of(response.content.decode())
    assert "Two steps have this id." in page
    assert "Letters, digits, _ and -, at most 40." in page
    assert not FlowVersion.objects.filter(flow=recharge, status="draft").exists()


def test_a_form_posted_without_its_steps_is_refused_and_stores_nothing(tenant, owner, recharge):
    response = signed_in(owner).post(editor_url(recharge), {"action": "save"})
    assert response.status_code == 400
    assert "The editor's form came incomplete: reload the page and try again." in text_of(response.content.decode())
    assert not FlowVersion.objects.filter(flow=recharge, status="draft").exists()


# --- adding, removing, moving, renaming ------------------------------------------------------------------------


def test_a_flow_is_built_step_by_step_and_published(tenant, owner):
    flow = flow_create(membership=owner, spec=FlowSpec(name="Boletos"))
    client = signed_in(owner)

    added = client.post(editor_url(flow), {**shown_form(client, flow), "action": "add", "new_type": "ask"})
    assert added["Location"] == f"{editor_url(flow)}#step-ask_1"
    client.post(editor_url(flow), {**shown_form(client, flow), "action": "add", "new_type": "end"})
    assert draft_definition(flow) == {
        "start": "ask_1",
        "steps": [
            {"id": "ask_1", "name": "Question", "type": "ask", "input": "text"},
            {"id": "end_1", "name": "End", "type": "end"},
        ],
    }

    values = shown_form(client, flow)
    values.update(
        {
            "s0-id": "cpf",
            "s0-name": "CPF",
            "s0-text": "Qual é o seu CPF?",
            "s0-validate_kind": "cpf",
            "s0-save_as": "cpf",
            "s0-next": "end_1",
            "s1-text": "Obrigado, {{contact.first_name}}.",
        }
    )
    response = client.post(editor_url(flow), {**values, "action": "publish"}, follow=True)

    assert "Version 1 published." in text_of(response.content.decode())
    flow.refresh_from_db()
    assert flow.published.number == 1
    assert flow.published.definition == {
        "start": "cpf",
        "steps": [
            {
                "id": "cpf",
                "name": "CPF",
                "type": "ask",
                "input": "text",
                "text": "Qual é o seu CPF?",
                "validate": {"kind": "cpf"},
                "save_as": "cpf",
                "next": "end_1",
            },
            {"id": "end_1", "name": "End", "type": "end", "text": "Obrigado, {{contact.first_name}}."},
        ],
    }


def test_renaming_a_step_renames_every_way_to_it(tenant, owner, recharge):
    client = signed_in(owner)
    values = shown_form(client, recharge)
    values[field_name(values, "ask_card", "id")] = "cartao"

    client.post(editor_url(recharge), {**values, "action": "save"})

    steps = {step["id"]: step for step in draft_definition(recharge)["steps"]}
    assert draft_definition(recharge)["start"] == "cartao"
    assert "ask_card" not in steps
    assert steps["cartao"]["next"] == "lookup"
    assert steps["card_unknown"]["next"] == "cartao"


def test_steps_move_up_and_down_and_are_removed(tenant, owner, recharge):
    client = signed_in(owner)
    ids = [step["id"] for step in transit_recharge()["steps"]]

    moved = client.post(editor_url(recharge), {**shown_form(client, recharge), "action": "up:2"})
    assert moved["Location"] == f"{editor_url(recharge)}#step-card_unknown"
    assert [s["id"] for s in draft_definition(recharge)["steps"]] == [ids[0], ids[2], ids[1], *ids[3:]]

    client.post(editor_url(recharge), {**shown_form(client, recharge), "action": "down:0"})
    assert [s["id"] for s in draft_definition(recharge)["steps"]] == [ids[2], ids[0], ids[1], *ids[3:]]

    client.post(editor_url(recharge), {**shown_form(client, recharge), "action": "remove:0"})
    assert [s["id"] for s in draft_definition(recharge)["steps"]] == [ids[0], ids[1], *ids[3:]]


# --- publishing ------------------------------------------------------------------------------------------------


def test_publishing_shows_every_problem_next_to_its_step_and_field_and_keeps_the_draft(tenant, owner, recharge):
    client = signed_in(owner)
    values = shown_form(client, recharge)
    values[field_name(values, "ask_amount", "text")] = ""
    values[field_name(values, "ask_amount", "r0-title")] = "Um título longo demais para um botão"
    values[field_name(values, "pay", "method")] = "boleto"
    values[field_name(values, "lookup", "on_error")] = ""

    response = client.post(editor_url(recharge), {**values, "action": "publish"})

    assert response.status_code == 400
    page = response.content.decode()
    assert "The draft is saved, but it cannot be published yet: The flow cannot be published: 4 problem(s)." in (
        text_of(page)
    )
    assert element(element_html(page, 'id="step-ask_amount"'), "data-problems") == (
        "Question: Required. Choice 1: Title: At most 20 characters (36 now)."
    )
    assert element(element_html(page, 'id="step-pay"'), "data-problems") == (
        "Way of payment: pix, card, or a variable holding one of them."
    )
    assert element(element_html(page, 'id="step-card_unknown"'), "data-problems") == "No step leads here."
    # The field itself is marked too.
    ask = element_html(page, 'id="step-ask_amount"')
    assert re.search(r'field has-error">\s*<label for="id_s3-text">', ask)
    recharge.refresh_from_db()
    assert recharge.published.number == 1
    draft = draft_definition(recharge)
    assert {s["id"]: s for s in draft["steps"]}["pay"]["method"] == "boleto"


def test_a_published_version_is_listed_with_who_and_shown_read_only(tenant, owner, recharge):
    client = signed_in(owner)
    values = shown_form(client, recharge)
    values[field_name(values, "ask_amount", "text")] = "Quanto?"
    client.post(editor_url(recharge), {**values, "action": "publish"})

    page = client.get(editor_url(recharge)).content.decode()
    rows = re.findall(r'<tr data-version="(\d+)">(.*?)</tr>', page, flags=re.S)
    who = owner.user.display_name
    assert [n for n, _r in rows] == ["2", "1"]
    assert text_of(rows[0][1]).startswith("Version 2") and text_of(rows[0][1]).endswith(f"{who} In use")
    assert text_of(rows[1][1]).endswith(f"{who} Retired")

    old = client.get(f"/t/acme/settings/flows/{recharge.pk}/versions/1/").content.decode()
    assert "<form" not in old.split('id="main"')[1]
    assert 'name="s3-text"' in old and re.search(r'<textarea name="s3-text"[^>]*disabled', old)
    assert "Hi! Let&#x27;s recharge your transit card." in old
    assert client.get(f"/t/acme/settings/flows/{recharge.pk}/versions/9/").status_code == 404


# --- the preview -----------------------------------------------------------------------------------------------


def test_each_text_field_asks_for_a_new_preview_as_the_admin_types(tenant, owner, recharge):
    page = signed_in(owner).get(editor_url(recharge)).content.decode()
    textarea = re.search(r'<textarea name="s3-text"[^>]*>', page).group(0)
    assert f'hx-post="/t/acme/settings/flows/{recharge.pk}/preview/"' in textarea
    assert 'hx-trigger="input changed delay:300ms, change"' in textarea
    assert 'hx-target="#preview-3"' in textarea
    assert 'hx-vals="{&quot;preview&quot;: &quot;3&quot;}"' in textarea
    # The page's own preview: sample values in the variables, money as money, the buttons under the bubble.
    preview = element(page, 'id="preview-3"')
    assert preview == (
        "Card of Maria Souza, balance R$12.50. How much do you want to add? Choose or type an amount from R$ 5 to "
        "R$ 200. R$ 10 R$ 20 R$ 50 When the answer is not valid: Choose one of the buttons or type an amount from "
        "R$ 5 to R$ 200."
    )


def test_the_preview_shows_markup_in_a_text_as_text(tenant, owner, recharge):
    client = signed_in(owner)
    values = shown_form(client, recharge)
    values[field_name(values, "ask_amount", "text")] = "<script>alert('x')</script> <b>{{card.holder_name}}</b>"
    values[field_name(values, "ask_amount", "r0-title")] = "<img src=x onerror=alert(1)>"
    values[field_name(values, "ask_amount", "retry_text")] = ""

    response = client.post(f"/t/acme/settings/flows/{recharge.pk}/preview/", {**values, "preview": "3"})

    assert response.status_code == 200
    body = response.content.decode()
    assert "<script" not in body and "<img" not in body and "<b>" not in body
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &lt;b&gt;Maria Souza&lt;/b&gt;" in body
    assert text_of(body) == "<script>alert('x')</script> <b>Maria Souza</b> <img src=x onerror=alert(1)> R$ 20 R$ 50"


def test_the_preview_of_a_list_a_payment_and_an_unknown_variable(tenant, owner):
    team = Team.objects.create(tenant=tenant, name="Financeiro")
    flow = flow_create(membership=owner, spec=FlowSpec(name="Tudo"))
    draft_save(membership=owner, flow=flow, definition=every_kind(team.pk))
    page = signed_in(owner).get(editor_url(flow)).content.decode()

    assert element(page, 'id="preview-0"') == "📎 Image Oi Maria! Bem-vinda. ↗ Site"
    assert element(page, 'id="preview-1"') == "2 products"
    assert element(page, 'id="preview-2"') == (
        "Escolha uma opção ☰ Ver opções Pagar Pix ou cartão Falar When the answer is not valid: Escolha da lista."
    )
    assert element(page, 'id="preview-9"') == (
        "The payment request: Recarga 123456789012 · R$25.00 · Pix The reminder: Falta pagar R$20.00"
    )
    assert element(page, 'id="preview-5"') == "This step sends no message."

    response = signed_in(owner).post(
        f"/t/acme/settings/flows/{flow.pk}/preview/",
        {"steps": "1", "s0-type": "end", "s0-id": "x", "s0-text": "Seu protocolo: {{erp.protocol}}", "preview": "0"},
    )
    assert text_of(response.content.decode()) == "Seu protocolo: {{erp.protocol}}"


def test_an_empty_preview_request_answers_with_no_message(tenant, owner, recharge):
    response = signed_in(owner).post(f"/t/acme/settings/flows/{recharge.pk}/preview/")
    assert response.status_code == 200
    assert text_of(response.content.decode()) == "This step sends no message."


# --- the diagram -----------------------------------------------------------------------------------------------


def diagram_of(page: str) -> ET.Element:
    found = re.search(r"<svg\b.*?</svg>", page, flags=re.S)
    assert found
    return ET.fromstring(found.group(0))


def test_the_diagram_draws_every_step_and_every_way_between_them(tenant, owner, recharge):
    page = signed_in(owner).get(editor_url(recharge)).content.decode()
    svg = diagram_of(page)

    nodes = {g.get("data-step") for g in svg.iter(f"{SVG}g") if "flow-node" in (g.get("class") or "")}
    edges = {
        (g.get("data-from"), g.get("data-to"), g.get("data-label"))
        for g in svg.iter(f"{SVG}g")
        if g.get("class") == "flow-edge"
    }
    assert nodes == {step["id"] for step in transit_recharge()["steps"]}
    assert edges == {
        ("ask_card", "lookup", ""),
        ("lookup", "ask_amount", ""),
        ("lookup", "card_unknown", "on error"),
        ("card_unknown", "ask_card", ""),
        ("ask_amount", "ask_method", ""),
        ("ask_method", "pay", ""),
        ("pay", "credit", "paid"),
        ("pay", "pay_failed", "on error"),
        ("credit", "receipt", ""),
        ("credit", "credit_failed", "on error"),
    }
    start = next(g for g in svg.iter(f"{SVG}g") if g.get("data-step") == "ask_card")
    assert "flow-node-start" in start.get("class")
    # Each box links to its step's card; the layers go down from the start, breadth first.
    link = start.find(f"{SVG}a")
    assert link.get("href") == "#step-ask_card"
    tops = {
        g.get("data-step"): float(g.find(f"{SVG}a/{SVG}rect").get("y"))
        for g in svg.iter(f"{SVG}g")
        if g.get("data-step")
    }
    assert tops["ask_card"] < tops["lookup"] < tops["ask_amount"] == tops["card_unknown"] < tops["ask_method"]


def test_the_diagram_labels_choices_and_rules_and_escapes_every_text(tenant, owner):
    flow = flow_create(membership=owner, spec=FlowSpec(name="Menu"))
    draft_save(
        membership=owner,
        flow=flow,
        definition={
            "start": "menu",
            "steps": [
                {
                    "id": "menu",
                    "name": "<script>alert(1)</script>",
                    "type": "ask",
                    "input": "buttons",
                    "text": "?",
                    "choices": [{"id": "a", "title": "A & <B>", "next": "route"}],
                },
                {
                    "id": "route",
                    "name": "Route",
                    "type": "branch",
                    "rules": [
                        {"if": {"subject": "variable", "name": "amount", "op": "gt", "value": "100"}, "next": "x"}
                    ],
                    "default": "menu",
                },
                {"id": "x", "name": "X", "type": "end"},
            ],
        },
    )
    page = signed_in(owner).get(editor_url(flow)).content.decode()

    assert "<script>alert(1)</script>" not in page
    svg = diagram_of(page)
    labels = {(g.get("data-from"), g.get("data-to")): g.get("data-label") for g in svg.iter(f"{SVG}g")}
    assert labels[("menu", "route")] == "A & <B>"
    assert labels[("route", "x")] == "amount > 100"
    assert labels[("route", "menu")] == "otherwise"
    names = [t.text for t in svg.iter(f"{SVG}text")]
    assert "<script>alert(1)</script>" in names
