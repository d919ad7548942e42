"""Validate Cloud API request bodies against Meta's OpenAPI 3.1 spec (tests/fixtures/whatsapp/meta_openapi_v23.json).

OpenAPI 3.1 schemas are JSON Schema 2020-12, so ``jsonschema.Draft202012Validator`` with a ``referencing``
registry holding the whole spec resolves every ``#/components/schemas/...`` reference as written.

Meta's spec cannot be used exactly as published: read literally it rejects every message, including
its own examples. ``repaired_spec`` applies the repairs below, each the smallest change that restores
what the spec's descriptions, its examples and Meta's documentation say. What is checked afterwards:

* the envelope: messaging_product, recipient_type, to, type, context, biz_opaque_callback_data, and no
  unknown top-level keys for every type except ``template`` (the spec leaves TemplateMessage open);
* text, media (exactly one of id/link), location, reaction, contacts (field names, enums, required keys);
* interactive: type enum, header (type enum, text <= 60), body (<= 1024), footer (<= 60), and the action
  branch: reply buttons (1-3, id <= 256, title <= 20), list (button <= 20, 1-10 sections, section title
  <= 24, <= 10 rows per section, row id <= 200, title <= 24, description <= 72), flow, catalog, cta_url;
* template: name, language.code, components by type (header/body/button) and their parameter shapes.

Not checked, because the spec does not describe them: the 10-rows-in-total list limit, list bodies up
to 4096 characters (BodyObject says 1024 for every interactive type), order_details/order_status,
product and location_request messages, and ``format`` keywords (url, email, date are annotations).

Repairs (keys of ``REPAIRS``):

* ``allof-additional-properties``: each XMessage is ``allOf[BaseMessageProperties, {additionalProperties:
  false, ...}]``; in JSON Schema ``additionalProperties`` only sees its own sibling ``properties``, so
  messaging_product/to/... are "additional" and every message fails. Replaced by ``unevaluatedProperties:
  false`` on the XMessage, which is what the authors meant.
* ``callback-data``: ``biz_opaque_callback_data`` (CONTRACT §3.1, <= 512 chars) is missing from
  BaseMessageProperties.
* ``location-numbers``: latitude/longitude are typed ``string`` while the spec's examples and Meta's
  docs send numbers; numbers and strings are accepted.
* ``cta-url``: the ``cta_url`` interactive type and its action are absent; added with display_text <= 20.
* ``template-index``: the button ``index`` pattern ``^[2-6, 11-14]$`` is a character class that rejects
  ``"0"``; replaced by ``^[0-9]$``. ``sub_type`` gains ``flow`` and ``copy_code``.
* ``language-policy``: LanguageObject requires ``policy``, which Meta documents as optional and its own
  hello_world example omits.
* ``discriminators``: jsonschema ignores the OpenAPI ``discriminator`` keyword, so TemplateComponent,
  ParameterObject and ButtonParameterObject would check nothing beyond ``type``. References to them are
  replaced by a ``oneOf`` over their mapping, with ``location`` (header), ``action`` (flow button) and
  ``coupon_code`` (copy-code button) parameters added.

Mark-as-read bodies are not ``Message`` at all; they are checked against ``MarkMessageRequestPayload``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "whatsapp" / "meta_openapi_v23.json"
SPEC_URI = "urn:meta:whatsapp-business-messaging-api:v23.0"
SEND_PATH = "/{Version}/{Phone-Number-ID}/messages"
SCHEMAS = "#/components/schemas/"


def load_spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


def _repair_allof_additional_properties(schemas: dict[str, Any]) -> None:
    for schema in schemas.values():
        branches = schema.get("allOf") if isinstance(schema, dict) else None
        if not isinstance(branches, list):
            continue
        closed = False
        for branch in branches:
            if isinstance(branch, dict) and branch.get("additionalProperties") is False:
                del branch["additionalProperties"]
                closed = True
        if closed:
            schema["unevaluatedProperties"] = False


def _repair_callback_data(schemas: dict[str, Any]) -> None:
    schemas["BaseMessageProperties"]["properties"]["biz_opaque_callback_data"] = {"type": "string", "maxLength": 512}


def _repair_location_numbers(schemas: dict[str, Any]) -> None:
    location = schemas["LocationMessage"]["allOf"][1]["properties"]["location"]["properties"]
    for key in ("latitude", "longitude"):
        location[key]["type"] = ["number", "string"]


def _repair_cta_url(schemas: dict[str, Any]) -> None:
    schemas["InteractiveObject"]["properties"]["type"]["enum"].append("cta_url")
    schemas["ActionObject"]["oneOf"].append(
        {
            "required": ["name", "parameters"],
            "properties": {
                "name": {"const": "cta_url"},
                "parameters": {
                    "type": "object",
                    "required": ["display_text", "url"],
                    "additionalProperties": False,
                    "properties": {
                        "display_text": {"type": "string", "minLength": 1, "maxLength": 20},
                        "url": {"type": "string", "minLength": 1},
                    },
                },
            },
        }
    )


def _repair_template_index(schemas: dict[str, Any]) -> None:
    base = schemas["TemplateComponent"]["properties"]
    button = schemas["ButtonComponent"]["allOf"][1]["properties"]
    for properties in (base, button):
        properties["index"]["pattern"] = "^[0-9]$"
        properties["sub_type"]["enum"] = [*properties["sub_type"]["enum"], "flow", "copy_code"]


def _repair_language_policy(schemas: dict[str, Any]) -> None:
    schemas["LanguageObject"]["required"] = ["code"]


def _repair_discriminators(schemas: dict[str, Any]) -> None:
    schemas["ParameterObject"]["properties"]["type"]["enum"].append("location")
    schemas["ParameterObject"]["discriminator"]["mapping"]["location"] = SCHEMAS + "LocationParameter"
    schemas["LocationParameter"] = {
        "allOf": [
            {"$ref": SCHEMAS + "ParameterObject"},
            {
                "type": "object",
                "required": ["location"],
                "properties": {
                    "type": {"enum": ["location"]},
                    "location": {"type": "object", "required": ["latitude", "longitude"]},
                },
            },
        ]
    }
    button_parameter = schemas["ButtonParameterObject"]
    button_parameter["properties"]["type"]["enum"] += ["action", "coupon_code"]
    for name, key in (("ButtonActionParameter", "action"), ("ButtonCouponCodeParameter", "coupon_code")):
        button_parameter["discriminator"]["mapping"][key] = SCHEMAS + name
        schemas[name] = {
            "allOf": [
                {"$ref": SCHEMAS + "ButtonParameterObject"},
                {
                    "type": "object",
                    "required": [key],
                    "properties": {"type": {"enum": [key]}, key: {"type": "object" if key == "action" else "string"}},
                },
            ]
        }

    for base in ("TemplateComponent", "ParameterObject", "ButtonParameterObject"):
        mapping = schemas[base]["discriminator"]["mapping"]
        dispatch = f"{base}Dispatch"
        schemas[dispatch] = {"oneOf": [{"$ref": target} for target in mapping.values()]}
        subtypes = {target.removeprefix(SCHEMAS) for target in mapping.values()}
        for name, schema in schemas.items():
            if name not in subtypes and name != dispatch:
                _replace_ref(schema, SCHEMAS + base, SCHEMAS + dispatch)


def _replace_ref(node: Any, old: str, new: str) -> None:
    if isinstance(node, dict):
        if node.get("$ref") == old:
            node["$ref"] = new
        for value in node.values():
            _replace_ref(value, old, new)
    elif isinstance(node, list):
        for value in node:
            _replace_ref(value, old, new)


REPAIRS: dict[str, Callable[[dict[str, Any]], None]] = {
    "allof-additional-properties": _repair_allof_additional_properties,
    "callback-data": _repair_callback_data,
    "location-numbers": _repair_location_numbers,
    "cta-url": _repair_cta_url,
    "template-index": _repair_template_index,
    "language-policy": _repair_language_policy,
    "discriminators": _repair_discriminators,
}


@cache
def repaired_spec() -> dict[str, Any]:
    spec = load_spec()
    schemas = spec["components"]["schemas"]
    for repair in REPAIRS.values():
        repair(schemas)
    return spec


def _validator(schema_ref: str, spec: dict[str, Any]) -> Draft202012Validator:
    registry = Registry().with_resource(SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": SPEC_URI + schema_ref}, registry=registry)


@cache
def send_validator(*, repaired: bool = True) -> Draft202012Validator:
    """Validator for the request body schema of ``POST /{Version}/{Phone-Number-ID}/messages``."""
    spec = repaired_spec() if repaired else load_spec()
    body_schema = spec["paths"][SEND_PATH]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return _validator(body_schema["$ref"], spec)


@cache
def mark_read_validator() -> Draft202012Validator:
    return _validator(SCHEMAS + "MarkMessageRequestPayload", repaired_spec())


def send_examples() -> dict[str, Any]:
    """Meta's own request examples for the send endpoint, by name."""
    content = load_spec()["paths"][SEND_PATH]["post"]["requestBody"]["content"]["application/json"]
    return {name: example["value"] for name, example in content["examples"].items()}


def errors_of(validator: Draft202012Validator, payload: Any) -> list[str]:
    """Readable validation errors ("path: message"), empty when the payload is valid."""
    messages: list[str] = []
    for error in _without_cascades(list(validator.iter_errors(payload))):
        messages.extend(_leaves(error))
    return sorted(set(messages))


def _without_cascades(errors: list[ValidationError]) -> list[ValidationError]:
    # A failing allOf branch leaves its properties "unevaluated": that error only repeats the real one.
    real = [e for e in errors if e.validator != "unevaluatedProperties"]
    return real or errors


def _leaves(error: ValidationError) -> list[str]:
    """Follow oneOf/anyOf failures into the branch the payload was aiming at (the one whose "type" matched)."""
    if not error.context:
        where = "/".join(str(p) for p in error.absolute_path) or "<root>"
        return [f"{where}: {error.message}"]
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    aimed = [errs for errs in branches.values() if not any(list(e.relative_path) == ["type"] for e in errs)]
    chosen = _without_cascades(min(aimed or list(branches.values()), key=lambda errs: len(_without_cascades(errs))))
    return [leaf for sub in chosen for leaf in _leaves(sub)]


def assert_valid_send_request(payload: dict[str, Any]) -> None:
    problems = errors_of(send_validator(), payload)
    assert not problems, "Not a valid send request per Meta's OpenAPI spec:\n" + "\n".join(problems)


def assert_valid_mark_read_request(payload: dict[str, Any]) -> None:
    problems = errors_of(mark_read_validator(), payload)
    assert not problems, "Not a valid mark-as-read request per Meta's OpenAPI spec:\n" + "\n".join(problems)


def copy_payload(payload: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(payload)
