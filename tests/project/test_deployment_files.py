"""The deployment files stay consistent with the product (Docker itself does not run on CI)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent.parent


def test_compose_runs_web_workers_beat_postgres_and_redis_from_one_image():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"web", "worker", "worker-replies", "beat", "postgres", "redis"}
    for name in ("web", "worker", "worker-replies", "beat"):
        service = services[name]
        assert (service["build"], service["image"], service["env_file"]) == (".", "helpdesk:latest", ".env")
        assert service["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }
    assert "uvicorn helpdesk.asgi:application" in services["web"]["command"]
    assert services["worker"]["command"].startswith("celery -A helpdesk worker")
    # The replies worker takes the replies queue alone; the other takes every queue (docs/operations.md).
    assert services["worker-replies"]["command"].startswith("celery -A helpdesk worker")
    assert services["worker-replies"]["command"].endswith("-Q replies")
    assert "-Q" not in services["worker"]["command"]
    assert services["beat"]["command"].startswith("celery -A helpdesk beat")
    assert set(compose["volumes"]) == {"postgres-data", "redis-data"}


def test_every_environment_variable_read_by_the_settings_is_documented():
    settings_text = "\n".join(p.read_text() for p in (ROOT / "helpdesk" / "settings").glob("*.py"))
    read = set(re.findall(r'env(?:\.\w+)?\("([A-Z0-9_]+)"', settings_text))
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / ".env.example").read_text()
    undocumented = sorted(name for name in read if name not in readme)
    assert undocumented == []
    for name in ("DJANGO_SECRET_KEY", "ENCRYPTION_KEYS", "DATABASE_URL", "REDIS_URL", "DJANGO_ALLOWED_HOSTS"):
        assert f"{name}=" in example
