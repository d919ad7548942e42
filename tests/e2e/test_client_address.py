"""The client address that login throttling and the audit log see, through the ASGI server as deployed.

uvicorn runs with the Dockerfile's own command line, so its ``--forwarded-allow-ips`` is part of what is
tested: a forged ``X-Forwarded-For`` sent straight to the server (here over loopback, which uvicorn would
trust by default) must not become the client address.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import httpx
import pytest

from tenants.models import AuditLogEntry
from tests.factories import add_member, make_tenant

from .harness import PROJECT_ROOT, VENV_BIN, ServerProcess, free_port

pytestmark = pytest.mark.e2e
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def dockerfile_server_command(port: int) -> list[str]:
    """The Dockerfile's CMD, on a free loopback port and with this environment's uvicorn."""
    cmd_line = next(line for line in (PROJECT_ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD "))
    shell, flag, script = json.loads(cmd_line.removeprefix("CMD "))
    assert (shell, flag) == ("sh", "-c")
    assert '--forwarded-allow-ips "$TRUSTED_PROXIES"' in script
    script = script.replace("exec uvicorn ", f"exec {VENV_BIN / 'uvicorn'} ", 1)
    script = script.replace("--host 0.0.0.0 --port 8000", f"--host 127.0.0.1 --port {port}", 1)
    return [shell, flag, script]


@pytest.fixture
def serve(server_env: dict[str, str], start_process: Callable[..., ServerProcess]) -> Callable[[str], str]:
    def start(trusted_proxies: str) -> str:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**server_env, "TRUSTED_PROXIES": trusted_proxies}
        start_process(name=f"web-{port}", command=dockerfile_server_command(port), env=env, ready=f"{url}/healthz/")
        return url

    return start


def failed_login(base_url: str, email: str, forwarded_for: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10.0) as client:
        page = client.get("/accounts/login/")
        token = CSRF_RE.search(page.text)
        assert token is not None
        response = client.post(
            "/accounts/login/",
            data={"csrfmiddlewaretoken": token.group(1), "login": email, "password": "wrong password"},
            headers={"X-Forwarded-For": forwarded_for, "Referer": f"{base_url}/accounts/login/"},
        )
        assert response.status_code == 200
        assert "are not correct" in response.text


def audited_addresses() -> list[str | None]:
    entries = AuditLogEntry.objects.filter(action=AuditLogEntry.Action.LOGIN_FAILED).order_by("id")
    return list(entries.values_list("ip_address", flat=True))


def test_a_forged_forwarded_for_sent_straight_to_the_server_is_not_taken_as_the_client(serve):
    agent = add_member(make_tenant("Acme", slug="acme"))
    url = serve("")
    failed_login(url, agent.user.email, "198.51.100.1")
    failed_login(url, agent.user.email, "198.51.100.2")
    assert audited_addresses() == ["127.0.0.1", "127.0.0.1"]


def test_behind_a_trusted_proxy_two_clients_are_told_apart(serve):
    agent = add_member(make_tenant("Acme", slug="acme"))
    url = serve("127.0.0.1")
    failed_login(url, agent.user.email, "6.6.6.6, 198.51.100.1")
    failed_login(url, agent.user.email, "198.51.100.2")
    assert audited_addresses() == ["198.51.100.1", "198.51.100.2"]
