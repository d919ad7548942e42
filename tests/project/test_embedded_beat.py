"""The embedded default's periodic jobs: snoozed conversations reopen without Celery beat."""

from __future__ import annotations

import pytest

from helpdesk import embedded_beat


def test_embedded_beat_runs_only_when_jobs_run_in_process(settings, monkeypatch):
    started = []
    monkeypatch.setattr(embedded_beat.threading, "Thread", lambda **kw: started.append(kw) or _Never())
    monkeypatch.setattr(embedded_beat, "_started", embedded_beat.threading.Event())
    settings.CELERY_TASK_ALWAYS_EAGER = False
    embedded_beat.start()
    assert started == []
    settings.CELERY_TASK_ALWAYS_EAGER = True
    embedded_beat.start()
    embedded_beat.start()
    assert [kw["name"] for kw in started] == ["embedded-beat"]


class _Never:
    def start(self) -> None:
        pass


@pytest.mark.django_db
def test_every_periodic_job_names_a_registered_task(settings):
    from helpdesk.celery import app

    app.loader.import_default_modules()
    assert {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()} <= set(app.tasks)
