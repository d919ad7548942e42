"""What the providers' webhooks name, waiting to be read back: queued, de-duplicated and worked in batches.

A PSP sends a notification several times (retries, one per payment of a charge, a Pix callback again after a
timeout), and each one only names charges or payments. With Redis, the names wait in a set per account and
slot (a charge always falls in the same slot), so a name posted three times while it waits is read back once,
and one job per slot reads the waiting names in batches over the process's kept gateway (its connection and
token). Without Redis (the embedded default) each notification is a job of its own. Names lost with Redis,
or with a job that died, are found by the sweeper, which reads every open charge back.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable

from celery import current_app
from django.db import transaction

from helpdesk import jobs
from helpdesk.exceptions import ApplicationError
from helpdesk.jobs import BROKER_ERRORS
from payments.gateways import TransientGatewayError
from payments.models import PaymentAccount
from payments.requests import notification_process

logger = logging.getLogger(__name__)

SLOTS = 4  # jobs that may read one account's charges at once
BATCH = 20  # names read back per step (a job records each charge in a transaction of its own)
DRAIN_SECONDS = 120.0  # then the job hands over to a fresh one
_CHARGE, _PAYMENT = "c:", "p:"


def _pending_key(account_id: int, slot: int) -> str:
    return f"helpdesk:pay:pending:{account_id}:{slot}"


def _drain_key(account_id: int, slot: int) -> str:
    return f"helpdesk:pay:drain:{account_id}:{slot}"


def _slot(name: str) -> int:
    return zlib.crc32(name.encode()) % SLOTS


def _task(name: str) -> object:
    return current_app.tasks[f"payments.tasks.{name}"]


def notifications_queue(account_id: int, references: Iterable[str], payment_ids: Iterable[str]) -> None:
    """Queue what a notification names to be read back: its charges (by the provider's reference), or, when it
    names none (Mercado Pago names the payment alone), its payments by id."""
    names = [_CHARGE + ref for ref in dict.fromkeys(references) if ref]
    if not names:
        names = [_PAYMENT + pid for pid in dict.fromkeys(payment_ids) if pid]
    if not names:
        return
    if jobs.inline():
        refs, pids = _split(names)
        transaction.on_commit(lambda: _enqueue(account_id, refs, pids))
        return
    by_slot: dict[int, list[str]] = {}
    for name in names:
        by_slot.setdefault(_slot(name), []).append(name)
    try:
        client = jobs.redis_client()
        with client.pipeline(transaction=False) as pipe:
            for slot, members in by_slot.items():
                pipe.sadd(_pending_key(account_id, slot), *members)
                pipe.set(_drain_key(account_id, slot), "1", nx=True, ex=jobs.DRAIN_KEY_TTL)
            answers = pipe.execute()
        for index, slot in enumerate(by_slot):
            if answers[2 * index + 1]:  # no job holds this slot: start one
                _task("payment_notifications_drain").delay(account_id, slot)  # type: ignore[attr-defined]
    except BROKER_ERRORS as exc:  # the sweeper reads open charges back anyway
        logger.warning("Payment notification of account %s not queued: %s", account_id, type(exc).__name__)


def _enqueue(account_id: int, references: list[str], payment_ids: list[str]) -> None:
    try:
        _task("payment_notification_process").delay(account_id, references, payment_ids)  # type: ignore[attr-defined]
    except BROKER_ERRORS as exc:  # the sweeper reads open charges back anyway
        logger.warning("Payment notification of account %s not enqueued: %s", account_id, type(exc).__name__)


def _split(names: Iterable[str]) -> tuple[list[str], list[str]]:
    refs = [name[len(_CHARGE) :] for name in names if name.startswith(_CHARGE)]
    pids = [name[len(_PAYMENT) :] for name in names if name.startswith(_PAYMENT)]
    return refs, pids


def notifications_drain(account_id: int, slot: int) -> int:
    """Read back the names waiting in one slot of an account, a batch at a time, until none are left.

    A provider that cannot be reached puts the batch back and raises ``TransientGatewayError`` (the task
    retries); the names that follow keep waiting.
    """
    client = jobs.redis_client()
    pending_key, drain_key = _pending_key(account_id, slot), _drain_key(account_id, slot)
    account = PaymentAccount.objects.filter(pk=account_id, enabled=True).first()
    if account is None:
        client.delete(pending_key, drain_key)
        return 0

    def step() -> int:
        popped = client.spop(pending_key, BATCH)
        if not popped:
            return 0
        names = sorted(item.decode() for item in popped)
        refs, pids = _split(names)
        try:
            notification_process(account, references=refs, payment_ids=pids)
        except TransientGatewayError:
            client.sadd(pending_key, *names)
            raise
        except ApplicationError as exc:  # the account can no longer be used (its provider is not offered)
            logger.warning("Payment notifications of account %s dropped: %s", account_id, exc)
        return len(names)

    return jobs.drain(
        drain_key,
        seconds=DRAIN_SECONDS,
        step=step,
        pending=lambda: bool(client.scard(pending_key)),
        hand_over=lambda: _task("payment_notifications_drain").delay(account_id, slot),  # type: ignore[attr-defined]
        client=client,
    )
