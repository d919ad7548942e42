"""Fixtures of browser tests: real server processes on the test database, Chromium driven by Playwright.

A test asks for ``page`` (and ``live_server_url`` or ``open_page`` as needed); the server runs in its
own process on the test database, so such tests run with ``transactional_db``: data the test writes
is committed and visible to the server, and the server's writes are visible to the test. Add more
processes (a Celery worker, a fake WhatsApp Cloud API) with ``start_process`` and ``server_env``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, expect, sync_playwright

from helpdesk.settings.test import redis_database_of_test_process
from tests.prerequisites import skip_or_fail

from .harness import PROJECT_ROOT, VENV_BIN, ServerProcess, ServerProcessError, database_url, free_port
from .mailbox import Mailbox

DEFAULT_TIMEOUT_MS = 10_000
SERVER_SETTINGS = "tests.e2e.server_settings"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
# Only these variables of the test run reach child processes, so a developer's shell cannot change them.
PASSTHROUGH_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "REDIS_URL", "LOG_LEVEL")

# Every page reports what its Content-Security-Policy blocked (an inline script, style or handler, a
# foreign host) as a console error with this prefix; any such report fails the test.
CSP_VIOLATION = "Content-Security-Policy violation:"
CSP_WATCH = (
    'document.addEventListener("securitypolicyviolation", function (e) {'
    f'  console.error("{CSP_VIOLATION} " + e.effectiveDirective + " blocked " + (e.blockedURI || "?")'
    '    + " in " + (e.sourceFile || e.documentURI) + ":" + e.lineNumber + " " + (e.sample || ""));'
    "});"
)

_PROCESSES = pytest.StashKey[list[ServerProcess]]()
_PAGES = pytest.StashKey[list[Page]]()


@dataclass
class BrowserErrors:
    """What went wrong in the browser while a test ran, across all its pages."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.add_init_script(CSP_WATCH)
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.page_errors.append(f"{page.url}: {error}"))
        page.on(
            "response",
            lambda response: (
                self.server_errors.append(f"{response.status} {response.request.method} {response.url}")
                if response.status >= 500
                else None
            ),
        )

    def _on_console(self, message: ConsoleMessage) -> None:
        location = message.location.get("url", "")
        # Chromium's own "Refused to ... Content Security Policy directive" lines count as violations too.
        is_csp = message.text.startswith(CSP_VIOLATION) or "Content Security Policy" in message.text
        if message.type == "error" and is_csp:
            self.csp_violations.append(f"{location}: {message.text}")
            return
        # Chromium asks for /favicon.ico by itself; a missing icon is not an error of the page under test.
        if message.type == "error" and urlsplit(location).path != "/favicon.ico":
            self.console_errors.append(f"{location}: {message.text}")

    def assert_none(self) -> None:
        problems = {
            "JavaScript errors": self.page_errors,
            "console errors": self.console_errors,
            "server errors": self.server_errors,
            "CSP violations": self.csp_violations,
        }
        found = {kind: items for kind, items in problems.items() if items}
        assert not found, f"The browser reported problems: {found}"

    def __str__(self) -> str:
        return "\n".join(
            [*(f"pageerror: {e}" for e in self.page_errors), *(f"console: {e}" for e in self.console_errors)]
            + [f"server: {e}" for e in self.server_errors]
            + [f"csp: {e}" for e in self.csp_violations]
        )


# --- reporting ------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed and report.when in ("setup", "call"):
        funcargs = getattr(item, "funcargs", {})
        for process in item.stash.get(_PROCESSES, []):
            report.sections.append((f"{process.name} log", process.log_excerpt()))
        for index, page in enumerate(item.stash.get(_PAGES, [])):
            if page.is_closed():
                continue
            shot = Path(funcargs["tmp_path"]) / f"failure-page{index}.png" if "tmp_path" in funcargs else None
            try:
                if shot is not None:
                    page.screenshot(path=str(shot), full_page=True)
                text = page.locator("body").inner_text(timeout=1_000)
            except Exception as exc:  # the report must not hide the test's own failure
                text = f"(could not read the page: {exc})"
            report.sections.append((f"browser page {index} at {page.url}", f"screenshot: {shot}\n{text[:3000]}"))
        errors = funcargs.get("browser_errors")
        if isinstance(errors, BrowserErrors) and str(errors):
            report.sections.append(("browser errors", str(errors)))
    return report


# --- processes ------------------------------------------------------------------------------


@pytest.fixture
def mail_dir(tmp_path: Path) -> Path:
    path = tmp_path / "mail"
    path.mkdir()
    return path


@pytest.fixture
def server_env(transactional_db: None, mail_dir: Path) -> dict[str, str]:
    """The environment of every child process: test settings on this test's database, mail to files."""
    from django.db import connection

    env = {key: os.environ[key] for key in PASSTHROUGH_ENV if key in os.environ}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": SERVER_SETTINGS,
            "DATABASE_URL": database_url(connection.settings_dict),
            "PYTHONPATH": str(PROJECT_ROOT),
            "PYTHONUNBUFFERED": "1",
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(mail_dir),
        }
    )
    return env


@pytest.fixture
def start_process(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start a ``ServerProcess`` (same arguments, ``log_path`` defaults to ``<tmp_path>/logs/<name>.log``).

    Processes stop in reverse order at teardown; one that died during the test fails it.
    """
    started: list[ServerProcess] = request.node.stash.setdefault(_PROCESSES, [])
    mine: list[ServerProcess] = []

    def start(*, name: str, **kwargs: Any) -> ServerProcess:
        kwargs.setdefault("log_path", tmp_path / "logs" / f"{name}.log")
        process = ServerProcess(name=name, **kwargs).start()
        started.append(process)
        mine.append(process)
        return process

    yield start

    died = [p for p in mine if not p.running]
    for process in reversed(mine):
        process.stop()
    if died:
        pytest.fail("\n".join(f"{p.name} exited during the test.\n{p.log_excerpt()}" for p in died))


def start_fake_web_worker(
    start_process: Callable[..., ServerProcess], env: dict[str, str], log_dir: Path, *, worker_name: str
) -> tuple[str, str]:
    """The fake Cloud API, the ASGI server (reaching the fake as it reaches Meta) and a Celery worker, each
    ready before this returns: (fake URL, server URL)."""
    fake_port, web_port = free_port(), free_port()
    fake_url, web_url = f"http://127.0.0.1:{fake_port}", f"http://127.0.0.1:{web_port}"
    env = {**env, "WHATSAPP_API_BASE_URL": fake_url}
    start_process(
        name="fake",
        command=[VENV_BIN / "python", "-m", "whatsapp.fake", "--host", "127.0.0.1", "--port", str(fake_port)],
        env=env,
        ready=f"{fake_url}/_fake/health",
    )
    start_process(
        name="web",
        command=[
            VENV_BIN / "uvicorn",
            "helpdesk.asgi:application",
            *("--host", "127.0.0.1", "--port", str(web_port), "--lifespan", "off"),
        ],
        env=env,
        ready=f"{web_url}/healthz/",
    )
    log = log_dir / "logs" / "worker.log"
    start_process(
        name="worker",
        command=[
            VENV_BIN / "celery",
            *("-A", "helpdesk", "worker", "--loglevel=INFO", "--concurrency=2", "-n", f"{worker_name}@%h"),
            *("--without-gossip", "--without-mingle"),
        ],
        env=env,
        ready=lambda: log.exists() and " ready." in log.read_text(errors="replace"),
        startup_timeout=60,
    )
    return fake_url, web_url


def redis_processes_env(server_env: dict[str, str], *, redis_db: str, needs: str) -> dict[str, str]:
    """The environment of a test's own server, worker and fake on PostgreSQL and a Redis database of their
    own (``redis_db``, emptied first: their broker and channel layer). Skips (or fails, under
    ``E2E_REQUIRED``) saying ``needs`` when PostgreSQL or Redis is not configured."""
    from django.db import connection

    base = os.environ.get("REDIS_URL")
    if connection.vendor != "postgresql" or not base:
        skip_or_fail(f"{needs} need PostgreSQL (DATABASE_URL) and Redis (REDIS_URL).")
        raise AssertionError("unreachable")
    url = base.rsplit("/", 1)[0] + f"/{redis_database_of_test_process(int(redis_db))}"
    import redis

    redis.Redis.from_url(url).flushdb()
    return server_env | {
        "REDIS_URL": url,
        "CELERY_BROKER_URL": url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture
def live_server_url(server_env: dict[str, str], start_process: Callable[..., ServerProcess]) -> str:
    """Base URL (no trailing slash) of the ASGI app served by uvicorn in its own process."""
    for attempt in range(3):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [
            VENV_BIN / "uvicorn",
            "helpdesk.asgi:application",
            *("--host", "127.0.0.1", "--port", str(port), "--lifespan", "off"),
        ]
        try:
            start_process(name=f"uvicorn-{port}", command=command, env=server_env, ready=f"{url}/healthz/")
        except ServerProcessError as exc:
            # Another process may take the free port before uvicorn binds it; try another.
            if "address already in use" not in str(exc).lower() or attempt == 2:
                raise
        else:
            return url
    raise AssertionError("unreachable")


@pytest.fixture
def mailbox(mail_dir: Path) -> Mailbox:
    """The mail the server processes sent during this test."""
    return Mailbox(mail_dir)


# --- browser --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = shutil.which("chromium")
    if path is None:
        message = "Chromium not installed (apt-get install chromium); browser tests need it."
        if os.environ.get("E2E_REQUIRED") == "1":
            pytest.fail(f"{message} E2E_REQUIRED=1 forbids skipping them.")
        pytest.skip(message)
    return path


# Package scope, not session: while Playwright runs, its event loop counts as running in this thread, which
# breaks async code (async_to_sync, Channels) in tests outside tests/e2e; it must stop once they finish.
@pytest.fixture(scope="package")
def playwright_instance() -> Iterator[Playwright]:
    with pytest.MonkeyPatch.context() as patch:
        # That loop makes Django refuse this test process's (synchronous) ORM calls unless allowed.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            yield playwright


@pytest.fixture(scope="package")
def browser(chromium_executable: str, playwright_instance: Playwright) -> Iterator[Browser]:
    # Debian's Chromium: Playwright must never download a browser of its own.
    browser = playwright_instance.chromium.launch(
        executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS
    )
    expect.set_options(timeout=DEFAULT_TIMEOUT_MS)
    yield browser
    browser.close()


@pytest.fixture
def browser_errors() -> BrowserErrors:
    return BrowserErrors()


@pytest.fixture
def open_page(
    request: pytest.FixtureRequest, browser: Browser, live_server_url: str, browser_errors: BrowserErrors
) -> Iterator[Callable[..., Page]]:
    """Open a page in a fresh browser context (its own cookies): one per person in a test. The browser asks
    for English unless ``locale`` names another language (``open_page(locale="pt-BR")``)."""
    pages: list[Page] = request.node.stash.setdefault(_PAGES, [])
    contexts = []

    def open_(*, locale: str = "en-US") -> Page:
        context = browser.new_context(base_url=live_server_url, locale=locale, timezone_id="UTC")
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        browser_errors.watch(page)
        pages.append(page)
        return page

    yield open_
    for context in contexts:
        context.close()
    # Every browser test runs under the product's CSP, whether or not it checks the console itself.
    assert not browser_errors.csp_violations, f"The Content-Security-Policy blocked: {browser_errors.csp_violations}"


@pytest.fixture
def page(open_page: Callable[[], Page]) -> Page:
    return open_page()
