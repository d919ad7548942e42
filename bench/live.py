"""Live inbox latency: from a customer's webhook to its text on the agent's screen.

Processes as the product runs: uvicorn (ASGI, WebSockets over the Redis channel layer), one Celery
worker, PostgreSQL and Redis; Chromium (headless, Playwright) shows the agent inbox with one
conversation open. Signed inbound-message webhooks are posted to the real endpoint at a steady
rate (20/s by default): four in five from new customers (each a new row at the top of the list), one
in five from the customer whose conversation is open (a new message in the pane). A MutationObserver
in the page stamps the moment each unique text first appears in a ``.row-preview`` or a message of
the pane (``performance.timeOrigin + performance.now()``); the load generator stamps the moment it
sent each POST (``time.time()``): both are this machine's wall clock.

    python bench/live.py [--quick] [--rate 20] [--seconds 30]

The last line printed is one JSON object: live_p50_ms, live_p95_ms, live_max_ms, missed (texts not
shown within 10 s of their POST), sent, and details per target. Target: p95 <= 1000 ms, missed 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    REDIS_BASE,
    RawHttpPool,
    django_setup,
    flush_redis,
    fresh_database,
    migrate,
    percentile,
    process_env,
    report,
    start_web,
    start_worker,
    stop_children_on_sigterm,
    text_message_payload,
    wait_until,
)

APP_SECRET = "bench-live-secret"
PHONE_NUMBER_ID = "920000000000001"
WABA_ID = "920000000000002"
SLUG = "bench-live"
EMAIL = "agent@bench-live.example"
PASSWORD = "bench-live-password-42"
OPEN_CUSTOMER = "5511955500000"
SHOW_TIMEOUT_S = 10.0
MARK = "LIVEBENCH"

# Records, once per text, when a mark first shows in a list preview or a message of the pane.
OBSERVER = """
(mark) => {
  window.__seen = {};
  const pattern = new RegExp(mark + "-(\\\\d+)", "g");
  const stamp = (text, where, now) => {
    for (const m of text.matchAll(pattern)) {
      if (!(m[1] in window.__seen)) window.__seen[m[1]] = [now, where];
    }
  };
  const scan = (node, now) => {
    if (node.nodeType !== 1) return;
    const el = node;
    if (el.matches(".row-preview")) stamp(el.textContent, "list", now);
    if (el.matches("article.msg")) stamp(el.textContent, "pane", now);
    el.querySelectorAll(".row-preview").forEach((p) => stamp(p.textContent, "list", now));
    el.querySelectorAll("article.msg").forEach((p) => stamp(p.textContent, "pane", now));
  };
  new MutationObserver((records) => {
    const now = performance.timeOrigin + performance.now();
    for (const r of records) {
      r.addedNodes.forEach((n) => scan(n, now));
      if (r.type === "characterData" && r.target.parentElement) scan(r.target.parentElement, now);
    }
  }).observe(document.getElementById("inbox"), {childList: true, subtree: true, characterData: true});
}
"""


def webhook_body(i: int, customer: str, name: str, text: str) -> bytes:
    from whatsapp.signature import encode_like_meta

    return encode_like_meta(
        text_message_payload(
            waba_id=WABA_ID,
            phone_number_id=PHONE_NUMBER_ID,
            display_phone_number="5511955509999",
            customer=customer,
            name=name,
            wamid=f"wamid.live-{i:07d}-{os.getpid()}",
            text=text,
        )
    )


def customer_of(i: int) -> tuple[str, str]:
    """One in five messages comes from the open conversation's customer, the others from new ones."""
    if i % 5 == 0:
        return OPEN_CUSTOMER, "Cliente Aberta"
    return f"55119{6000_0000 + i:08d}", f"Cliente {i}"


def text_of(i: int) -> str:
    return f"{MARK}-{i} Olá, meu cartão nº {i} não recarrega ✅"


async def post_at_rate(url: str, items: list[tuple[int, bytes]], rate: float, sent: dict[int, float]) -> dict[int, int]:
    """Post each body at its scheduled time (open loop); records the wall-clock send time (ms) of each."""
    from urllib.parse import urlsplit

    from whatsapp.signature import sign

    parts = urlsplit(url)
    statuses: dict[int, int] = {}
    async with RawHttpPool(f"{parts.scheme}://{parts.netloc}", 16) as pool:
        start = time.perf_counter()

        async def one(k: int, i: int, body: bytes) -> None:
            delay = start + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, APP_SECRET)}
            sent[i] = time.time() * 1000
            statuses[i] = await pool.post(parts.path, body, headers)

        await asyncio.gather(*(one(k, i, body) for k, (i, body) in enumerate(items)))
    return statuses


def post_in_thread(url: str, items: list[tuple[int, bytes]], rate: float) -> tuple[dict[int, float], dict[int, int]]:
    """Playwright's sync API keeps an event loop in this thread, so the load generator gets its own."""
    sent: dict[int, float] = {}
    result: dict[str, Any] = {}

    def run() -> None:
        result["statuses"] = asyncio.run(post_at_rate(url, items, rate, sent))

    thread = threading.Thread(target=run, name="webhooks")
    thread.start()
    thread.join()
    return sent, result.get("statuses", {})


def serve_static_from_finders(page: Any) -> None:
    """Bench settings serve collected static files only; hand the browser the sources instead."""
    from django.conf import settings
    from django.contrib.staticfiles import finders

    prefix = settings.STATIC_URL

    def handler(route: Any) -> None:
        from urllib.parse import urlsplit

        path = urlsplit(route.request.url).path
        found = finders.find(path[len(prefix) :]) if path.startswith(prefix) else None
        if found:
            route.fulfill(path=found)
        else:
            route.fulfill(status=404, body="not found")

    page.route(f"**{prefix}**", handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 seconds of webhooks (under 60 s in all)")
    parser.add_argument("--rate", type=float, default=20.0, help="webhooks per second")
    parser.add_argument("--seconds", type=float, default=None, help="how long to post (default 30, quick 10)")
    parser.add_argument("--headed", action="store_true", help="show the browser window")
    args = parser.parse_args()
    stop_children_on_sigterm()
    seconds = args.seconds or (10.0 if args.quick else 30.0)
    count = int(args.rate * seconds)

    database = fresh_database("helpdesk_bench_live")
    redis_url = f"{REDIS_BASE}/9"
    flush_redis(redis_url)
    env = process_env(database, redis_url)
    migrate(env)
    django_setup(env)
    # This process drives Playwright's sync API and also reads the database with the ORM.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect, sync_playwright

    from conversations.models import Conversation, Message
    from tenants.models import User
    from tenants.services import tenant_create
    from tests.e2e.ui import log_in
    from tests.factories import owner_of
    from whatsapp.services import channel_create

    owner = User.objects.create_user(email=EMAIL, password=PASSWORD, name="Agent Bench")
    tenant = tenant_create(name="Bench Live", slug=SLUG, owner=owner)
    channel = channel_create(
        actor=owner_of(tenant),
        name="Bench",
        display_phone_number="5511955509999",
        phone_number_id=PHONE_NUMBER_ID,
        waba_id=WABA_ID,
        access_token="bench-live-token",
        app_secret=APP_SECRET,
        verify=False,
    )
    log_dir = Path(tempfile.mkdtemp(prefix="bench-live-"))
    figures: dict[str, Any] = {"mode": "quick" if args.quick else "full", "rate_per_s": args.rate, "seconds": seconds}
    with ExitStack() as stack:
        base = start_web(stack, env, log_dir)
        # The worker is on the measured path here (webhook -> stored -> event): not deprioritised.
        start_worker(stack, env, log_dir, concurrency=2, nice=0)
        webhook_url = f"{base}/webhooks/whatsapp/{channel.webhook_key}/"

        # Warm-up (not measured): the open conversation exists, and every code path has run once.
        warm = [
            (
                -(k + 1),
                webhook_body(
                    10_000_000 + k,
                    OPEN_CUSTOMER if k == 0 else f"5511955{k:06d}",
                    "Cliente Aberta" if k == 0 else f"Aquecimento {k}",
                    f"Aquecimento {k}",
                ),
            )
            for k in range(10)
        ]
        _sent, statuses = post_in_thread(webhook_url, warm, 10)
        assert set(statuses.values()) == {200}, statuses
        wait_until(lambda: Message.objects.filter(inbox=channel.inbox).count() >= len(warm), timeout=60)
        open_display_id = Conversation.objects.get(contact__identities__address=OPEN_CUSTOMER).display_id

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium",
                headless=not args.headed,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
            )
            context = browser.new_context(
                base_url=base, locale="en-US", timezone_id="UTC", viewport={"width": 1400, "height": 900}
            )
            context.set_default_timeout(30_000)
            page = context.new_page()
            serve_static_from_finders(page)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            log_in(page, email=EMAIL, password=PASSWORD)
            page.goto(f"/t/{SLUG}/inbox/c/{open_display_id}/")
            expect(page.locator("[data-live-state][data-state=live]")).to_be_visible(timeout=30_000)
            page.evaluate(OBSERVER, MARK)
            print(f"inbox open at {base}, posting {count} webhooks at {args.rate:g}/s for {seconds:g} s", flush=True)

            items = [(i, webhook_body(i, *customer_of(i), text_of(i))) for i in range(count)]
            sent, statuses = post_in_thread(webhook_url, items, args.rate)
            last_post = max(sent.values()) / 1000
            # Wait (in the page, no sleeping here) until every text is shown or 10 s after the last POST.
            remaining_ms = max(0.0, (last_post + SHOW_TIMEOUT_S - time.time()) * 1000)
            with contextlib.suppress(PlaywrightTimeout):  # what is missing is counted below
                page.wait_for_function(f"Object.keys(window.__seen).length >= {count}", timeout=remaining_ms or 1)
            seen: dict[str, list] = page.evaluate("window.__seen")
            pane_count = page.locator("[data-messages] > article.msg").count()
            browser.close()

        processed = Message.objects.filter(inbox=channel.inbox).count() - len(warm)
        # Where the time goes: POST -> stored by the worker (the rest is event -> fetch -> render).
        stored_at = {
            text.split(" ", 1)[0]: created.timestamp() * 1000
            for text, created in Message.objects.filter(inbox=channel.inbox, text__startswith=MARK).values_list(
                "text", "created_at"
            )
        }

    latencies: dict[str, list[float]] = {"list": [], "pane": []}
    missed = []
    for i in range(count):
        hit = seen.get(str(i))
        if hit is None or hit[0] - sent[i] > SHOW_TIMEOUT_S * 1000:
            missed.append(i)
            continue
        latencies[hit[1]].append(hit[0] - sent[i])
    everything = latencies["list"] + latencies["pane"]
    to_store = [stored_at[f"{MARK}-{i}"] - sent[i] for i in range(count) if f"{MARK}-{i}" in stored_at]
    store_to_screen = [
        seen[str(i)][0] - stored_at[f"{MARK}-{i}"]
        for i in range(count)
        if str(i) in seen and f"{MARK}-{i}" in stored_at
    ]
    figures.update(
        {
            "sent": count,
            "accepted": sum(1 for s in statuses.values() if s == 200),
            "processed": processed,
            "shown": len(everything),
            "missed": len(missed),
            "live_p50_ms": round(percentile(everything, 50), 1),
            "live_p95_ms": round(percentile(everything, 95), 1),
            "live_max_ms": round(max(everything, default=0.0), 1),
            "list_p95_ms": round(percentile(latencies["list"], 95), 1),
            "pane_p95_ms": round(percentile(latencies["pane"], 95), 1),
            "stored_p50_ms": round(percentile(to_store, 50), 1),
            "stored_p95_ms": round(percentile(to_store, 95), 1),
            "store_to_screen_p50_ms": round(percentile(store_to_screen, 50), 1),
            "store_to_screen_p95_ms": round(percentile(store_to_screen, 95), 1),
            "pane_messages": pane_count,
            "page_errors": len(errors),
        }
    )
    print(f"posted {count} webhooks, {figures['accepted']} accepted, {processed} stored")
    print(
        f"webhook -> screen: p50 {figures['live_p50_ms']} ms, p95 {figures['live_p95_ms']} ms, "
        f"max {figures['live_max_ms']} ms; list p95 {figures['list_p95_ms']} ms, pane p95 {figures['pane_p95_ms']} ms"
    )
    print(
        f"of which POST -> stored by the worker: p50 {figures['stored_p50_ms']} ms, p95 {figures['stored_p95_ms']} ms; "
        f"stored -> on screen: p50 {figures['store_to_screen_p50_ms']} ms, p95 {figures['store_to_screen_p95_ms']} ms"
    )
    print(f"missed (not shown within {SHOW_TIMEOUT_S:g} s): {len(missed)} {missed[:20]}; page errors: {errors[:3]}")
    print(f"logs in {log_dir}")
    report(figures)


if __name__ == "__main__":
    main()
