"""The template picker labels each value by the parameter's name or position, with Meta's example as hint."""

from __future__ import annotations

import pytest
from django.utils import translation

from whatsapp.backend import WhatsAppBackend
from whatsapp.models import MessageTemplate
from whatsapp.templates_validation import parameter_examples

from .conftest import make_channel

pytestmark = pytest.mark.django_db


def offered(channel, components, parameter_format="POSITIONAL"):
    MessageTemplate.objects.create(
        tenant=channel.tenant,
        waba_id=channel.waba_id,
        name="pedido",
        language="pt_BR",
        status=MessageTemplate.Status.APPROVED,
        parameter_format=parameter_format,
        components=components,
    )
    with translation.override("en"):
        (template,) = WhatsAppBackend().templates_for(channel.inbox)
    return template


def test_numbered_values_are_labelled_by_position_with_the_approved_example(tenant):
    template = offered(
        make_channel(tenant),
        [
            {
                "type": "HEADER",
                "format": "TEXT",
                "text": "Our {{1}} is on!",
                "example": {"header_text": ["Summer Sale"]},
            },
            {
                "type": "BODY",
                "text": "Hi {{1}}, use code {{2}}.",
                "example": {"body_text": [["Mark", "FALL25"]]},
            },
        ],
    )
    assert template["header_params"] == [
        {
            "name": "1",
            "label": "Header value 1",
            "example": "Summer Sale",
            "accessible_name": "Header value 1, for example Summer Sale",
        }
    ]
    assert template["body_params"] == [
        {"name": "1", "label": "Value 1", "example": "Mark", "accessible_name": "Value 1, for example Mark"},
        {"name": "2", "label": "Value 2", "example": "FALL25", "accessible_name": "Value 2, for example FALL25"},
    ]
    assert "{{" not in str(template["header_params"] + template["body_params"])


def test_named_values_are_labelled_by_their_name(tenant):
    template = offered(
        make_channel(tenant),
        [
            {
                "type": "BODY",
                "text": "Olá {{first_name}}, o pedido {{order_id}} saiu.",
                "example": {
                    "body_text_named_params": [
                        {"param_name": "first_name", "example": "Pablo"},
                        {"param_name": "order_id", "example": "860198-230332"},
                    ]
                },
            }
        ],
        parameter_format="NAMED",
    )
    assert template["body_params"] == [
        {
            "name": "first_name",
            "label": "first name",
            "example": "Pablo",
            "accessible_name": "first name, for example Pablo",
        },
        {
            "name": "order_id",
            "label": "order id",
            "example": "860198-230332",
            "accessible_name": "order id, for example 860198-230332",
        },
    ]


def test_a_value_without_an_example_is_labelled_alone(tenant):
    template = offered(make_channel(tenant), [{"type": "BODY", "text": "Pedido {{1}} pronto."}])
    assert template["body_params"] == [{"name": "1", "label": "Value 1", "example": "", "accessible_name": "Value 1"}]


@pytest.mark.parametrize(
    "example",
    [None, "Mark", {"body_text": "Mark"}, {"body_text": [[None, True]]}, {"body_text_named_params": [{"x": 1}]}],
)
def test_malformed_examples_are_ignored(example):
    components = [{"type": "BODY", "text": "Hi {{1}} {{2}}", "example": example}]
    assert parameter_examples(components, "POSITIONAL") == {"header": {}, "body": {}}
