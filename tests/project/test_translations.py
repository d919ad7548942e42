"""The translation catalogs are complete: a new string that is not translated fails CI.

``makemessages`` (the project's, which also reads the Jinja2 templates) is run into a copy of the
committed catalogs; the copy must name exactly the strings the committed catalogs name, each translated,
none fuzzy, each with the placeholders of its source. Needs GNU gettext's ``xgettext`` and ``msgmerge``
(Debian's ``gettext`` package, which ``.ci/run`` installs); without them the test is skipped, except on
CI, where it fails.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from django.conf import settings
from django.core.management import call_command

from tenants.management.commands.makemessages import jinja2_stub

LOCALE = Path(settings.BASE_DIR) / "locale"
DOMAINS = ("django", "djangojs")
LANGUAGES = ("pt_BR",)
# Where the product's strings are (tests/ and bench/ speak to developers only).
SOURCES = (
    "automations",
    "campaigns",
    "conversations",
    "flows",
    "helpdesk",
    "jinja2",
    "payments",
    "static",
    "templates",
    "tenants",
    "whatsapp",
)
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w+\}")


def _gettext_tools() -> None:
    missing = [tool for tool in ("xgettext", "msgmerge", "msguniq") if shutil.which(tool) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"GNU gettext is missing ({', '.join(missing)}): install Debian's gettext package.")
        pytest.skip(f"GNU gettext is not installed ({', '.join(missing)}).")


def _read(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle)


def _keys(catalog: Catalog) -> set[tuple[str | None, object]]:
    return {(message.context, message.id) for message in catalog if message.id}


def _gaps(committed_path: Path, fresh_path: Path) -> tuple[list[str], list[str]]:
    """(strings of the code the committed catalog lacks, strings it holds that the code no longer has)."""
    committed, fresh = _keys(_read(committed_path)), _keys(_read(fresh_path))
    return sorted(str(key) for key in fresh - committed), sorted(str(key) for key in committed - fresh)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The catalogs as ``makemessages`` would write them today, from the committed ones."""
    _gettext_tools()
    # A tree of links to the project's sources beside a copy of its catalogs: makemessages writes into
    # the catalogs of the tree it runs in, so the committed ones stay as they are.
    root = tmp_path_factory.mktemp("project")
    base = Path(settings.BASE_DIR)
    for source in SOURCES:
        (root / source).symlink_to(base / source, target_is_directory=True)
    copy = root / "locale"
    shutil.copytree(LOCALE, copy, ignore=shutil.ignore_patterns("*.mo"))
    before = {path: path.read_bytes() for path in LOCALE.rglob("*.po")}
    cwd = Path.cwd()
    os.chdir(root)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(settings, "LOCALE_PATHS", [copy])
            for domain in DOMAINS:
                call_command("makemessages", locale=list(LANGUAGES), domain=domain, symlinks=True, verbosity=0)
    finally:
        os.chdir(cwd)
    assert {path: path.read_bytes() for path in LOCALE.rglob("*.po")} == before, "the committed catalogs changed"
    return copy


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("domain", DOMAINS)
def test_every_string_of_the_code_is_in_the_committed_catalog(extracted: Path, domain: str, language: str) -> None:
    new, stale = _gaps(
        LOCALE / language / "LC_MESSAGES" / f"{domain}.po", extracted / language / "LC_MESSAGES" / f"{domain}.po"
    )
    where = f"locale/{language}/LC_MESSAGES/{domain}.po"
    assert new == [], f"Strings not in {where}: run `make messages-update` and translate them"
    assert stale == [], f"Strings no longer in the code, still in {domain}.po: run `make messages-update`"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("domain", DOMAINS)
def test_every_string_is_translated_with_its_placeholders(domain: str, language: str) -> None:
    catalog = _read(LOCALE / language / "LC_MESSAGES" / f"{domain}.po")
    assert catalog.fuzzy is False, "the catalog's header is marked fuzzy: it would not be compiled"
    assert catalog.plural_forms == "nplurals=2; plural=(n > 1);"
    problems = []
    for message in catalog:
        if not message.id:
            continue
        sources = message.id if isinstance(message.id, tuple) else (message.id,)
        targets = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(targets):
            problems.append(f"untranslated or fuzzy: {message.id!r}")
            continue
        wanted = set(PLACEHOLDER.findall(sources[-1]))
        for target in targets:
            if set(PLACEHOLDER.findall(target)) - set(PLACEHOLDER.findall(" ".join(sources))):
                problems.append(f"placeholder not in the source: {message.id!r} -> {target!r}")
            if not wanted <= set(PLACEHOLDER.findall(target)) and len(targets) == 1:
                problems.append(f"placeholder lost: {message.id!r} -> {target!r}")
        if len(targets) > 1 and not set(PLACEHOLDER.findall(sources[-1])) <= set(PLACEHOLDER.findall(targets[-1])):
            problems.append(f"placeholder lost in the plural: {message.id!r} -> {targets[-1]!r}")
    assert problems == []


def test_the_jinja2_templates_strings_reach_the_extraction() -> None:
    stub = jinja2_stub()
    assert 'gettext("Forwarded many times")' in stub
    assert 'gettext("The customer changed their number to +%(number)s.")' in stub
    assert "# jinja2/conversations/message.html:" in stub


def test_a_new_untranslated_string_is_caught(extracted: Path, tmp_path: Path) -> None:
    """The check itself: a committed catalog that lacks one string of the code is reported, naming it."""
    from babel.messages.pofile import write_po

    catalog = _read(LOCALE / "pt_BR" / "LC_MESSAGES" / "django.po")
    catalog.delete("Forwarded many times")
    lacking = tmp_path / "django.po"
    with lacking.open("wb") as handle:
        write_po(handle, catalog)
    assert _gaps(lacking, extracted / "pt_BR" / "LC_MESSAGES" / "django.po") == (
        [str((None, "Forwarded many times"))],
        [],
    )
