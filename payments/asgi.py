"""The providers' webhook POSTs, served straight from the ASGI server (``helpdesk.fast_posts``): the same
``webhook_accept`` as the Django view, without the browser's middleware."""

from __future__ import annotations

from django.http import HttpResponse

from helpdesk.fast_posts import Post, Route
from payments.webhooks import BODY_MAX, payments_webhook, webhook_accept


def _handle(post: Post) -> HttpResponse:
    return webhook_accept(
        str(post.kwargs["webhook_key"]),
        pix=bool(post.kwargs.get("pix", False)),
        body=post.body,
        headers=post.headers,
        query=post.query,
    )


ROUTES = {
    payments_webhook: Route(
        handle=_handle,
        too_large=lambda: HttpResponse("The body is too large.", status=413, content_type="text/plain"),
        limit=BODY_MAX,
    )
}
