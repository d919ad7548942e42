"""Static files: the inbox's ES modules load from our origin and survive production's hashed names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from tests.factories import add_member, make_tenant

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(path.name for path in (ROOT / "static" / "js" / "inbox").glob("*.js"))
IMPORT = re.compile(r"""^import\b[^;]*?\bfrom\s*"([^"]+)";""", re.MULTILINE)


def imports(path: Path) -> list[str]:
    return IMPORT.findall(path.read_text())


def imported_modules(name: str) -> list[str]:
    return [target.removeprefix("./") for target in imports(ROOT / "static" / "js" / "inbox" / name)]


@pytest.fixture
def production_static(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "helpdesk.staticfiles.StaticFilesStorage"}}
    call_command("collectstatic", "--noinput", verbosity=0)
    return tmp_path, json.loads((tmp_path / "staticfiles.json").read_text())["paths"]


def test_the_inbox_modules_import_each_other_by_relative_name_without_a_cycle():
    graph = {name: imported_modules(name) for name in MODULES}
    assert graph["main.js"] == [
        "shared.js",
        "list.js",
        "history.js",
        "conversation.js",
        "composer.js",
        "contact.js",
        "notifications.js",
        "products.js",
        "realtime.js",
    ]
    assert graph["shared.js"] == []
    assert all(target in MODULES for targets in graph.values() for target in targets)

    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(t == goal or (t not in seen and reaches(t, goal, seen | {t})) for t in graph[start])

    assert [name for name in MODULES if reaches(name, name)] == []


def test_collectstatic_with_the_production_storage_points_every_module_import_at_a_hashed_name(production_static):
    static_root, manifest = production_static
    hashed = {name: manifest[f"js/inbox/{name}"].removeprefix("js/inbox/") for name in MODULES}
    assert all(re.fullmatch(rf"{name.removesuffix('.js')}\.[0-9a-f]{{12}}\.js", hashed[name]) for name in MODULES)
    for name in MODULES:
        served = imports(static_root / "js/inbox" / hashed[name])
        assert served == [f"./{hashed[target]}" for target in imported_modules(name)]
        assert all((static_root / "js/inbox" / target).is_file() for target in served)


@pytest.mark.django_db
def test_the_inbox_page_loads_its_entry_module_from_our_origin():
    tenant = make_tenant("Acme", slug="acme")
    client = Client()
    client.force_login(add_member(tenant, "admin").user)
    html = client.get("/t/acme/inbox/").content.decode()
    assert re.findall(r"<script[^>]*>", html)[-1] == '<script type="module" src="/static/js/inbox/main.js">'
    assert "js/inbox.js" not in html
