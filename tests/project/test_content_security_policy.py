"""Every response carries a strict Content-Security-Policy; the pages need nothing it forbids."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from tests.factories import add_member, make_tenant

pytestmark = pytest.mark.django_db
TEMPLATE_DIRS = [Path(__file__).resolve().parents[2] / "templates", Path(__file__).resolve().parents[2] / "jinja2"]
EXPECTED = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data: blob:",
    "media-src": "'self' blob:",
    "font-src": "'self'",
    "connect-src": "'self' ws://127.0.0.1:8000 wss://127.0.0.1:8000",
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


def policy(response) -> dict[str, str]:
    directives = (part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    return {name: value for name, value in directives}


@pytest.fixture
def member_client():
    tenant = make_tenant("Acme", slug="acme")
    client = Client()
    client.force_login(add_member(tenant, "admin").user)
    return client


@pytest.mark.parametrize(
    "path",
    ["/accounts/login/", "/accounts/signup/", "/healthz/", "/no-such-page/", "/api/docs/", "/api/schema/"],
)
def test_every_response_carries_the_strict_policy(path):
    assert policy(Client().get(path)) == EXPECTED


@pytest.mark.parametrize(
    "path", ["/t/acme/", "/t/acme/inbox/", "/t/acme/settings/labels/", "/api/v1/t/acme/conversations/"]
)
def test_signed_in_pages_and_the_api_carry_the_strict_policy(member_client, path):
    response = member_client.get(path)
    assert response.status_code == 200
    assert policy(response) == EXPECTED


def test_no_template_has_inline_script_handlers_or_style():
    inline = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")|\son[a-z]+=|\sstyle=|<style")
    found = [
        f"{path.relative_to(path.parents[2])}:{n}: {line.strip()}"
        for directory in TEMPLATE_DIRS
        for path in sorted(directory.rglob("*.html"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if inline.search(re.sub(r"\{#.*?#\}", "", line))
    ]
    assert found == []


def test_the_api_docs_use_only_our_own_static_files():
    page = Client().get("/api/docs/").content.decode()
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert urls == [
        "/static/drf_spectacular_sidecar/swagger-ui-dist/favicon-32x32.png",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css",
        "/static/css/api_docs.css",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-standalone-preset.js",
        "/api/docs/?script=",
    ]
    for url in urls[:-1]:
        assert finders.find(url.removeprefix("/static/")) is not None, url
    assert "<script>" not in page and "<style>" not in page

    script = Client().get("/api/docs/?script=")
    assert (script.status_code, script["Content-Type"]) == (200, "application/javascript")
    assert '"/api/schema/"' in script.content.decode()
