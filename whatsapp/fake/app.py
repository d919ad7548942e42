"""The fake WhatsApp Cloud API as a Starlette app: Graph endpoints, the ``/_fake/`` admin API and the simulator.

``create_app()`` holds no global state: two apps (say, two tests' servers) can live in one process.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from whatsapp.fake import catalog_api, errors
from whatsapp.fake.clock import AdjustableClock, Clock
from whatsapp.fake.encoding import encode_like_meta
from whatsapp.fake.engine import AdminError, FakeEngine
from whatsapp.fake.simulator import STATIC_DIR, chat_state
from whatsapp.fake.state import FakeState

CONTROL_PREFIXES = ("/_fake/", "/simulator")
CLIENT_CLOSED_REQUEST = 499
PHONE_FIELDS = (
    "verified_name",
    "code_verification_status",
    "display_phone_number",
    "quality_rating",
    "platform_type",
    "throughput",
    "webhook_configuration",
    "id",
)
PROFILE_LIMITS = {"about": 139, "address": 256, "description": 512, "email": 128}
VERTICALS = {
    "OTHER",
    "AUTO",
    "BEAUTY",
    "APPAREL",
    "EDU",
    "ENTERTAIN",
    "EVENT_PLAN",
    "FINANCE",
    "GROCERY",
    "GOVT",
    "HOTEL",
    "HEALTH",
    "NONPROFIT",
    "PROF_SERVICES",
    "RETAIL",
    "TRAVEL",
    "RESTAURANT",
    "ALCOHOL",
    "ONLINE_GAMBLING",
    "PHYSICAL_GAMBLING",
    "OTC_DRUGS",
}


class GraphVersion(Convertor[str]):
    regex = r"v\d+\.\d+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("graphversion", GraphVersion())


class MetaJSONResponse(Response):
    """Graph API responses are escaped like webhooks (``\\/``, ``\\uXXXX``)."""

    media_type = "application/json; charset=UTF-8"

    def render(self, content: Any) -> bytes:
        return encode_like_meta(content)


def graph_error_response(error: errors.GraphError) -> Response:
    headers = {}
    if error.code == 190:
        headers["WWW-Authenticate"] = 'OAuth "Facebook Platform" "invalid_token" "Invalid OAuth access token"'
    return MetaJSONResponse(error.body(), status_code=error.http_status, headers=headers)


def admin_error(message: str, status_code: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status_code)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in {"bearer", "oauth"} and value.strip():
        return value.strip()
    return request.query_params.get("access_token") or None


def engine_of(request: Request) -> FakeEngine:
    return request.app.state.engine


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise errors.invalid_parameter("Request body must be a JSON object.")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise errors.invalid_parameter("Request body is not valid JSON.") from None


async def admin_json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise AdminError("body is not valid JSON") from None


def fields_filter(data: dict[str, Any], request: Request) -> dict[str, Any]:
    fields = request.query_params.get("fields")
    if not fields:
        return data
    wanted = {f.strip() for f in fields.split(",") if f.strip()} | {"id"}
    return {k: v for k, v in data.items() if k in wanted}


# ---------------------------------------------------------------------------------------------- request recording


class RecordRequests:
    """Pure ASGI middleware recording every Graph/media request (never the admin API or the simulator)."""

    def __init__(self, app: ASGIApp, engine: FakeEngine) -> None:
        self.app = app
        self.engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(CONTROL_PREFIXES):
            await self.app(scope, receive, send)
            return
        state = self.engine.state
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        authorization = headers.pop("authorization", None)
        with state.lock:
            state.request_seq += 1
            record: dict[str, Any] = {
                "id": state.request_seq,
                "at": self.engine.now(),
                "method": scope["method"],
                "path": path,
                "query": scope.get("query_string", b"").decode("latin-1"),
                "headers": headers,
                "authorization_present": authorization is not None,
                "status_code": None,
            }
            state.requests.append(record)
        scope["fake.record"] = record
        chunks: list[bytes] = []
        content_type = headers.get("content-type", "")

        async def recording_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    _record_body(record, b"".join(chunks), content_type, state)
            return message

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                with state.lock:
                    record["status_code"] = message["status"]
            elif message["type"] == "http.response.body" and (record["status_code"] or 200) >= 400:
                # Keep Meta's error code of a refused request (e.g. 130429), for tests and benchmarks.
                try:
                    code = json.loads(message.get("body", b"") or b"{}").get("error", {}).get("code")
                except (ValueError, AttributeError):
                    code = None
                with state.lock:
                    record["error_code"] = code
            await send(message)

        await self.app(scope, recording_receive, recording_send)


def _record_body(record: dict[str, Any], raw: bytes, content_type: str, state: FakeState) -> None:
    if not raw or content_type.startswith("multipart/"):
        return  # multipart fields are recorded by the upload handler
    with state.lock:
        try:
            record["json"] = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            record["body"] = raw[:10_000].decode("utf-8", "replace")


# ---------------------------------------------------------------------------------------------- Graph endpoints

GraphHandler = Callable[[Request, FakeEngine], Awaitable[Response]]


def graph(handler: GraphHandler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        engine = engine_of(request)
        with engine.state.lock:
            latency = engine.state.faults.latency_ms
        if latency:
            await asyncio.sleep(latency / 1000)
        if engine.take_5xx():
            return graph_error_response(errors.sync_error(131000))
        try:
            return await handler(request, engine)
        except errors.GraphError as error:
            return graph_error_response(error)
        except ClientDisconnect:
            # The client gave up before its body was read (say, during injected latency): nothing was
            # done, and nobody reads the answer. Recorded as 499, nginx's "client closed request".
            return Response(status_code=CLIENT_CLOSED_REQUEST)

    return endpoint


async def send_message(request: Request, engine: FakeEngine) -> Response:
    number = engine.number_for(request.path_params["node"], bearer_token(request), "POST")
    body = await json_body(request)
    arrived_at = request.scope.get("fake.record", {}).get("at")
    response, hang_s = engine.send(
        version=request.path_params["version"], number=number, body=body, arrived_at=arrived_at
    )
    if hang_s:
        await _hang(request, engine, hang_s)
    return MetaJSONResponse(response)


async def _hang(request: Request, engine: FakeEngine, seconds: float) -> None:
    # The send is accepted and recorded; the client just never gets the answer in time.
    epoch = engine.hang_epoch()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if engine.hang_epoch() != epoch or engine.stopping.is_set() or await request.is_disconnected():
            return
        await asyncio.sleep(0.05)


async def upload_media(request: Request, engine: FakeEngine) -> Response:
    number = engine.number_for(request.path_params["node"], bearer_token(request), "POST")
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise errors.missing_parameter("file")
    form = await request.form(max_part_size=1024 * 1024)
    recorded: dict[str, Any] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            recorded[key] = {"filename": value.filename, "content_type": value.content_type, "size": value.size}
        else:
            recorded[key] = value
    record = request.scope.get("fake.record")
    if record is not None:
        with engine.state.lock:
            record["form"] = recorded
    if form.get("messaging_product") is None:
        raise errors.missing_parameter("messaging_product")
    if form.get("messaging_product") != "whatsapp":
        raise errors.invalid_parameter("Param messaging_product must be one of {WHATSAPP}.")
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise errors.missing_parameter("file")
    mime_type = form.get("type")
    if not isinstance(mime_type, str) or not mime_type:
        mime_type = upload.content_type or ""
    if not mime_type:
        raise errors.missing_parameter("type")
    content = await upload.read()
    media = engine.upload_media(number, content, mime_type, upload.filename)
    return MetaJSONResponse({"id": media.id})


def _phone_info(number: Any) -> dict[str, Any]:
    return {
        "verified_name": number.verified_name,
        "code_verification_status": number.code_verification_status,
        "display_phone_number": number.display_phone_number,
        "quality_rating": number.quality_rating,
        "platform_type": "CLOUD_API",
        "throughput": {"level": number.throughput_level},
        "webhook_configuration": {"application": number.webhook_url or ""},
        "name_status": "APPROVED",
        "whatsapp_business_manager_messaging_limit": number.messaging_limit_tier,
        "id": number.phone_number_id,
    }


async def app_uploads(request: Request, engine: FakeEngine) -> Response:
    """Resumable Upload API, step 1: ``POST /{app-id}/uploads?file_name=&file_length=&file_type=``."""
    session = engine.upload_session_create(request.path_params["node"], bearer_token(request), request.query_params)
    return MetaJSONResponse({"id": session.id})


async def upload_session(request: Request, engine: FakeEngine, node_id: str) -> Response:
    """Resumable Upload API, step 2: ``POST /upload:<session>`` (header ``file_offset``, the bytes as the body) →
    ``{"h": handle}``; ``GET`` tells how far an interrupted upload got: ``{"id", "file_offset"}``."""
    session = engine.upload_session_for(node_id, bearer_token(request), request.method)
    if request.method == "GET":
        with engine.state.lock:
            return MetaJSONResponse({"id": session.id, "file_offset": len(session.data)})
    if request.method != "POST":
        raise errors.unknown_object(node_id, request.method)
    handle = engine.upload_session_write(session, request.headers.get("file_offset"), await request.body())
    return MetaJSONResponse({"h": handle})


async def node(request: Request, engine: FakeEngine) -> Response:
    node_id, method, token = request.path_params["node"], request.method, bearer_token(request)
    engine.check_token(token)
    if node_id.startswith("upload:"):
        return await upload_session(request, engine, node_id)
    kind = engine.node_kind(node_id)
    if kind in {"catalog", "product_item"}:
        return await catalog_api.node(request, engine, kind)
    if kind == "phone_number" and method == "GET":
        number = engine.number_for(node_id, token, method)
        info = _phone_info(number)
        if not request.query_params.get("fields"):
            info = {k: info[k] for k in PHONE_FIELDS}
        return MetaJSONResponse(fields_filter(info, request))
    if kind == "media":
        media = engine.media_for(node_id, token, method)
        wanted_number = request.query_params.get("phone_number_id")
        if wanted_number and wanted_number != media.phone_number_id:
            raise errors.unknown_object(node_id, method)
        if method == "DELETE":
            engine.delete_media(media)
            return MetaJSONResponse({"success": True})
        if method == "GET":
            return MetaJSONResponse(
                {
                    "messaging_product": "whatsapp",
                    "url": engine.media_url(media, str(request.base_url)),
                    "mime_type": media.mime_type,
                    "sha256": media.sha256_hex,
                    "file_size": len(media.data),
                    "id": media.id,
                }
            )
    if kind == "template":
        template = engine.template_for(node_id, token, method)
        if method == "GET":
            return MetaJSONResponse(fields_filter(template.graph(), request))
        if method == "POST":
            engine.edit_template(template, await json_body(request))
            return MetaJSONResponse({"success": True})
    if kind == "waba" and method == "GET":
        engine.waba_numbers(node_id, token, method)
        return MetaJSONResponse(fields_filter({"id": node_id, "name": f"Fake WABA {node_id}"}, request))
    raise errors.unknown_object(node_id, method)


async def business_profile(request: Request, engine: FakeEngine) -> Response:
    number = engine.number_for(request.path_params["node"], bearer_token(request), request.method)
    if request.method == "GET":
        with engine.state.lock:
            profile = {"messaging_product": "whatsapp", **number.business_profile}
        fields = request.query_params.get("fields")
        if fields:
            wanted = {f.strip() for f in fields.split(",")} | {"messaging_product"}
            profile = {k: v for k, v in profile.items() if k in wanted}
        return MetaJSONResponse({"data": [profile]})
    body = await json_body(request)
    if not isinstance(body, dict):
        raise errors.invalid_parameter("Request body must be a JSON object.")
    if body.get("messaging_product") != "whatsapp":
        raise errors.missing_parameter("messaging_product")
    update: dict[str, Any] = {}
    for key, limit in PROFILE_LIMITS.items():
        if key in body:
            if not isinstance(body[key], str) or len(body[key]) > limit:
                raise errors.invalid_parameter(f"Param {key} must be a string of at most {limit} characters.")
            update[key] = body[key]
    if "websites" in body:
        websites = body["websites"]
        if not isinstance(websites, list) or len(websites) > 2 or not all(isinstance(w, str) for w in websites):
            raise errors.invalid_parameter("Param websites must be an array of at most 2 URLs.")
        update["websites"] = websites
    if "vertical" in body:
        if body["vertical"] not in VERTICALS:
            raise errors.invalid_parameter(f"Param vertical must be one of {{{', '.join(sorted(VERTICALS))}}}.")
        update["vertical"] = body["vertical"]
    if body.get("profile_picture_handle"):
        update["profile_picture_url"] = (
            f"{str(request.base_url).rstrip('/')}/_fake/profile_pictures/{number.phone_number_id}"
        )
    with engine.state.lock:
        number.business_profile.update(update)
    return MetaJSONResponse({"success": True})


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(str(index).encode()).decode().rstrip("=")


def _uncursor(cursor: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except ValueError:
        raise errors.invalid_parameter("Invalid cursor.") from None


async def message_templates(request: Request, engine: FakeEngine) -> Response:
    waba_id, method = request.path_params["node"], request.method
    engine.waba_numbers(waba_id, bearer_token(request), method)
    if method == "POST":
        template = engine.create_template(waba_id, await json_body(request))
        return MetaJSONResponse({"id": template.id, "status": template.status, "category": template.category})
    if method == "DELETE":
        name = request.query_params.get("name")
        if not name:
            raise errors.missing_parameter("name")
        if not engine.delete_templates(waba_id, name, request.query_params.get("hsm_id")):
            raise errors.invalid_parameter(f"Message template {name} not found.")
        return MetaJSONResponse({"success": True})
    query = request.query_params
    with engine.state.lock:
        found = [t.graph() for t in engine.state.templates.values() if t.waba_id == waba_id]
    if query.get("name"):
        found = [t for t in found if query["name"].lower() in t["name"].lower()]
    for key in ("status", "category", "language"):
        if query.get(key):
            wanted = {v.strip().upper() if key != "language" else v.strip() for v in query[key].split(",")}
            found = [t for t in found if t[key] in wanted]
    try:
        limit = max(1, min(int(query.get("limit", "25")), 1000))
    except ValueError:
        raise errors.invalid_parameter("Param limit must be an integer.") from None
    if query.get("after"):
        start = _uncursor(query["after"]) + 1
    elif query.get("before"):
        start = max(_uncursor(query["before"]) - limit, 0)
    else:
        start = 0
    page = found[start : start + limit]
    fields = query.get("fields")
    if fields:
        wanted_fields = {f.strip() for f in fields.split(",")} | {"id"}
        page = [{k: v for k, v in t.items() if k in wanted_fields} for t in page]
    result: dict[str, Any] = {"data": page}
    if page:
        paging: dict[str, Any] = {"cursors": {"before": _cursor(start), "after": _cursor(start + len(page) - 1)}}
        base = request.url.remove_query_params(["after", "before"])
        if start + len(page) < len(found):
            paging["next"] = str(base.include_query_params(limit=limit, after=paging["cursors"]["after"]))
        if start > 0:
            paging["previous"] = str(base.include_query_params(limit=limit, before=paging["cursors"]["before"]))
        result["paging"] = paging
    return MetaJSONResponse(result)


async def waba_phone_numbers(request: Request, engine: FakeEngine) -> Response:
    numbers = engine.waba_numbers(request.path_params["node"], bearer_token(request), "GET")
    data = [fields_filter(_phone_info(n), request) for n in numbers]
    return MetaJSONResponse(
        {"data": data, "paging": {"cursors": {"before": _cursor(0), "after": _cursor(len(data) - 1)}}}
    )


async def unknown_graph_path(request: Request, engine: FakeEngine) -> Response:
    engine.check_token(bearer_token(request))
    raise errors.unknown_object(request.path_params["rest"].split("/")[0], request.method)


async def download_media(request: Request) -> Response:
    engine = engine_of(request)
    try:
        media = engine.download(request.path_params["token"], bearer_token(request))
    except errors.GraphError as error:
        return graph_error_response(error)
    except AdminError:
        return PlainTextResponse("Not Found", status_code=404)
    headers = {}
    if media.filename:
        headers["Content-Disposition"] = f'attachment; filename="{media.filename}"'
    return Response(media.data, media_type=media.mime_type, headers=headers)


# ---------------------------------------------------------------------------------------------- admin API

AdminHandler = Callable[[Request, FakeEngine], Awaitable[Response]]


def admin(handler: AdminHandler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request, engine_of(request))
        except AdminError as error:
            return admin_error(error.message, error.status_code)

    return endpoint


async def health(request: Request, engine: FakeEngine) -> Response:
    return JSONResponse({"ok": True, "now": engine.now(), **engine.pending_work()})


async def reset(request: Request, engine: FakeEngine) -> Response:
    engine.reset()
    return JSONResponse({"ok": True})


async def phone_numbers(request: Request, engine: FakeEngine) -> Response:
    if request.method == "GET":
        with engine.state.lock:
            return JSONResponse({"data": [n.public() for n in engine.state.numbers.values()]})
    data = await admin_json(request)
    if isinstance(data, list):
        return JSONResponse({"data": [engine.register_number(item).public() for item in data]}, status_code=201)
    return JSONResponse(engine.register_number(data).public(), status_code=201)


async def phone_number_delete(request: Request, engine: FakeEngine) -> Response:
    with engine.state.lock:
        removed = engine.state.numbers.pop(request.path_params["pnid"], None)
    if removed is None:
        raise AdminError("unknown phone number", 404)
    return JSONResponse({"ok": True})


async def faults(request: Request, engine: FakeEngine) -> Response:
    if request.method == "POST":
        engine.set_faults(await admin_json(request))
    elif request.method == "DELETE":
        engine.clear_faults()
    with engine.state.lock:
        return JSONResponse(engine.state.faults.public())


async def recorded_requests(request: Request, engine: FakeEngine) -> Response:
    with engine.state.lock:
        if request.method == "DELETE":
            engine.state.requests.clear()
            return JSONResponse({"ok": True})
        data = [dict(r) for r in engine.state.requests]
    method, path = request.query_params.get("method"), request.query_params.get("path_contains")
    if method:
        data = [r for r in data if r["method"] == method.upper()]
    if path:
        data = [r for r in data if path in r["path"]]
    return JSONResponse({"data": data})


async def messages(request: Request, engine: FakeEngine) -> Response:
    query = request.query_params
    direction = query.get("direction", "out")
    with engine.state.lock:
        data = [m.public() for m in engine.state.messages.values()]
    if direction != "all":
        data = [m for m in data if m["direction"] == direction]
    for key, field in (
        ("phone_number_id", "phone_number_id"),
        ("to", "wa_id"),
        ("wa_id", "wa_id"),
        ("status", "status"),
    ):
        if query.get(key):
            data = [m for m in data if m[field] == query[key]]
    return JSONResponse({"data": data})


async def message_detail(request: Request, engine: FakeEngine) -> Response:
    with engine.state.lock:
        message = engine.state.messages.get(request.path_params["wamid"])
        if message is None:
            raise AdminError("unknown wamid", 404)
        return JSONResponse(message.public())


async def webhooks(request: Request, engine: FakeEngine) -> Response:
    with engine.state.lock:
        if request.method == "DELETE":
            engine.state.webhooks.clear()
            return JSONResponse({"ok": True})
        data = [w.public() for w in engine.state.webhooks]
    for key in ("phone_number_id", "field", "state"):
        if request.query_params.get(key):
            data = [w for w in data if w[key] == request.query_params[key]]
    return JSONResponse({"data": data})


async def admin_templates(request: Request, engine: FakeEngine) -> Response:
    if request.method == "GET":
        with engine.state.lock:
            data = [{**t.graph(), "waba_id": t.waba_id} for t in engine.state.templates.values()]
        waba = request.query_params.get("waba_id")
        return JSONResponse({"data": [t for t in data if not waba or t["waba_id"] == waba]})
    data = await admin_json(request)
    if not isinstance(data, dict) or not data.get("waba_id"):
        raise AdminError("waba_id is required")
    if data.get("seed"):
        created = engine.seed_templates(str(data["waba_id"]))
        return JSONResponse({"data": [t.graph() for t in created]}, status_code=201)
    try:
        template = engine.create_template(
            str(data["waba_id"]), {k: v for k, v in data.items() if k != "status"}, seeding=True
        )
    except errors.GraphError as error:
        raise AdminError(error.details or error.message) from None
    status = str(data.get("status", "APPROVED")).upper()
    with engine.state.lock:
        template.status = status
    return JSONResponse(template.graph(), status_code=201)


async def template_review(request: Request, engine: FakeEngine) -> Response:
    """Meta's side of a template's life: ``approve``, ``reject`` (``reason``, ``rejection_info``), ``pause``
    (``title`` FIRST_PAUSE/SECOND_PAUSE/RATE_LIMITING_PAUSE/UNPAUSE, ``description``) and ``quality`` (``score``)."""
    data = await admin_json(request)
    data = data if isinstance(data, dict) else {}
    action, template_id = request.path_params["action"], request.path_params["template_id"]
    if action == "pause":
        paused = engine.pause_template(
            template_id, title=str(data.get("title") or "FIRST_PAUSE"), description=data.get("description")
        )
        return JSONResponse(paused.graph())
    if action == "quality":
        rated = engine.set_template_quality(template_id, str(data.get("score") or ""))
        return JSONResponse({**rated.graph(), "quality_score": rated.quality_score})
    approve = action == "approve"
    if action not in {"approve", "reject"}:
        raise AdminError("action must be approve, reject, pause or quality", 404)
    template = engine.review_template(
        request.path_params["template_id"],
        approve=approve,
        reason=data.get("reason") if isinstance(data, dict) else None,
        rejection_info=data.get("rejection_info") if isinstance(data, dict) else None,
    )
    return JSONResponse(template.graph())


async def inbound(request: Request, engine: FakeEngine) -> Response:
    result = engine.inbound(await admin_json(request), base_url=str(request.base_url))
    return JSONResponse(result, status_code=201)


async def customer_read(request: Request, engine: FakeEngine) -> Response:
    data = await admin_json(request)
    if not isinstance(data, dict) or not data.get("phone_number_id") or not (data.get("customer") or data.get("wa_id")):
        raise AdminError("phone_number_id and customer are required")
    wamids = data.get("message_ids")
    read = engine.customer_read(str(data["phone_number_id"]), str(data.get("customer") or data.get("wa_id")), wamids)
    return JSONResponse({"read": read})


async def clock_control(request: Request, engine: FakeEngine) -> Response:
    if request.method == "POST":
        data = await admin_json(request)
        control = engine.clock
        if not isinstance(control, AdjustableClock):
            raise AdminError("this fake runs on an injected clock that the admin API cannot move", 409)
        if "set" in data:
            control.set(float(data["set"]))
        if "advance_s" in data:
            control.advance(float(data["advance_s"]))
    return JSONResponse({"now": engine.now()})


NUMBER_SETTINGS = {
    "messaging_limit_tier": ("TIER_50", "TIER_250", "TIER_1K", "TIER_2K", "TIER_10K", "TIER_100K", "TIER_UNLIMITED"),
    "quality_rating": ("GREEN", "YELLOW", "RED", "UNKNOWN"),
}


def _number_settings_set(engine: FakeEngine, phone_number_id: str, values: Any) -> None:
    """``{"phone_numbers": {"<id>": {"messaging_limit_tier": "TIER_250", "quality_rating": "RED"}}}``: what
    the phone-number API answers for a registered number (the caller holds the state's lock)."""
    number = engine.state.numbers.get(phone_number_id)
    if number is None:
        raise AdminError(f"unknown phone number {phone_number_id}")
    if not isinstance(values, dict):
        raise AdminError("phone number settings must be a JSON object")
    for key, value in values.items():
        if key not in NUMBER_SETTINGS or value not in NUMBER_SETTINGS[key]:
            raise AdminError(f"invalid phone number setting {key}={value!r}")
        setattr(number, key, value)


async def settings(request: Request, engine: FakeEngine) -> Response:
    if request.method == "POST":
        data = await admin_json(request)
        with engine.state.lock:
            current = engine.state.settings
            try:
                numbers = data.pop("phone_numbers", None) or {}
                for phone_number_id, values in numbers.items():
                    _number_settings_set(engine, str(phone_number_id), values)
                for key, value in data.items():
                    if not hasattr(current, key) or key == "max_recorded":
                        raise AdminError(f"unknown setting {key}")
                    if key == "webhook_retry_delays_s":
                        value = tuple(float(v) for v in value)
                    elif key in {"public_base_url"}:
                        value = str(value) if value else None
                    elif key == "review_delay_s":
                        value = None if value is None else float(value)
                    elif key in {"media_url_in_webhooks", "check_catalog_products"}:
                        value = bool(value)
                    elif key == "throughput_error_http_status":
                        value = int(value)
                    else:
                        value = float(value)
                    setattr(current, key, value)
            except (TypeError, ValueError) as exc:
                raise AdminError(f"invalid settings: {exc}") from None
    with engine.state.lock:
        return JSONResponse(engine.state.settings.public())


async def verify_webhook(request: Request, engine: FakeEngine) -> Response:
    data = await admin_json(request)
    with engine.state.lock:
        number = engine.state.numbers.get(str(data.get("phone_number_id", "")))
    if number is None or not number.webhook_url:
        raise AdminError("unknown phone_number_id or no webhook_url", 404)
    challenge = str(data.get("challenge") or int(time.time() * 1000) % 10**10)
    params = {
        "hub.mode": "subscribe",
        "hub.challenge": challenge,
        "hub.verify_token": str(data.get("verify_token", "")),
    }
    async with httpx.AsyncClient(trust_env=False, timeout=5, verify=False) as client:  # noqa: S501
        try:
            response = await client.get(number.webhook_url, params=params, headers={"User-Agent": "facebookplatform"})
        except httpx.HTTPError as exc:
            return JSONResponse({"verified": False, "error": str(exc)})
    verified = response.status_code == 200 and response.text == challenge
    return JSONResponse({"verified": verified, "status_code": response.status_code, "body": response.text[:1000]})


async def simulator_state(request: Request, engine: FakeEngine) -> Response:
    pnid = request.query_params.get("pnid", "")
    customer = "".join(ch for ch in request.query_params.get("customer", "") if ch.isdigit())
    return JSONResponse(chat_state(engine.state, phone_number_id=pnid, wa_id=customer, now=engine.now()))


async def admin_media(request: Request, engine: FakeEngine) -> Response:
    with engine.state.lock:
        media = engine.state.media.get(request.path_params["media_id"])
    if media is None or media.deleted:
        raise AdminError("unknown media", 404)
    return Response(media.data, media_type=media.mime_type)


# ---------------------------------------------------------------------------------------------- simulator page


def _static(name: str, media_type: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        content = (STATIC_DIR / name).read_bytes()
        return Response(content, media_type=media_type, headers={"Cache-Control": "no-store"})

    return endpoint


async def simulator_redirect(request: Request) -> Response:
    return RedirectResponse("/simulator/")


# ---------------------------------------------------------------------------------------------- assembly


def create_app(state: FakeState | None = None, *, clock: Clock | None = None) -> Starlette:
    """A fresh fake Cloud API. ``clock`` returns epoch seconds; by default real time that ``/_fake/clock`` can move."""
    state = state or FakeState()
    engine = FakeEngine(state, clock or AdjustableClock())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        engine.stop()

    v = "/{version:graphversion}/{node}"
    routes = [
        Route(f"{v}/messages", graph(send_message), methods=["POST"]),
        Route(f"{v}/media", graph(upload_media), methods=["POST"]),
        Route(f"{v}/uploads", graph(app_uploads), methods=["POST"]),
        Route(f"{v}/whatsapp_business_profile", graph(business_profile), methods=["GET", "POST"]),
        Route(f"{v}/message_templates", graph(message_templates), methods=["GET", "POST", "DELETE"]),
        Route(f"{v}/phone_numbers", graph(waba_phone_numbers), methods=["GET"]),
        Route(f"{v}/product_catalogs", graph(catalog_api.waba_product_catalogs), methods=["GET", "POST", "DELETE"]),
        Route(f"{v}/whatsapp_commerce_settings", graph(catalog_api.commerce_settings), methods=["GET", "POST"]),
        Route(f"{v}/products", graph(catalog_api.catalog_products), methods=["GET", "POST"]),
        Route(f"{v}/items_batch", graph(catalog_api.items_batch), methods=["POST"]),
        Route(f"{v}/check_batch_request_status", graph(catalog_api.check_batch_request_status), methods=["GET"]),
        Route(v, graph(node), methods=["GET", "POST", "DELETE"]),
        Route("/{version:graphversion}/{rest:path}", graph(unknown_graph_path), methods=["GET", "POST", "DELETE"]),
        Route("/_media/{token}", download_media, methods=["GET"]),
        Route("/_fake/health", admin(health), methods=["GET"]),
        Route("/_fake/reset", admin(reset), methods=["POST"]),
        Route("/_fake/phone_numbers", admin(phone_numbers), methods=["GET", "POST"]),
        Route("/_fake/phone_numbers/{pnid}", admin(phone_number_delete), methods=["DELETE"]),
        Route("/_fake/faults", admin(faults), methods=["GET", "POST", "DELETE"]),
        Route("/_fake/requests", admin(recorded_requests), methods=["GET", "DELETE"]),
        Route("/_fake/messages", admin(messages), methods=["GET"]),
        Route("/_fake/messages/{wamid}", admin(message_detail), methods=["GET"]),
        Route("/_fake/webhooks", admin(webhooks), methods=["GET", "DELETE"]),
        Route("/_fake/templates", admin(admin_templates), methods=["GET", "POST"]),
        Route("/_fake/templates/{template_id}/{action}", admin(template_review), methods=["POST"]),
        Route("/_fake/inbound", admin(inbound), methods=["POST"]),
        Route("/_fake/read", admin(customer_read), methods=["POST"]),
        Route("/_fake/catalogs", admin(catalog_api.admin_catalogs), methods=["GET", "POST"]),
        Route("/_fake/catalogs/{catalog_id}", admin(catalog_api.admin_catalog), methods=["GET", "DELETE"]),
        Route("/_fake/catalogs/{catalog_id}/item_errors", admin(catalog_api.admin_item_errors), methods=["POST"]),
        Route("/_fake/clock", admin(clock_control), methods=["GET", "POST"]),
        Route("/_fake/settings", admin(settings), methods=["GET", "POST"]),
        Route("/_fake/verify_webhook", admin(verify_webhook), methods=["POST"]),
        Route("/_fake/simulator/state", admin(simulator_state), methods=["GET"]),
        Route("/_fake/media/{media_id}", admin(admin_media), methods=["GET"]),
        Route("/simulator", simulator_redirect, methods=["GET"]),
        Route("/simulator/", _static("simulator.html", "text/html; charset=utf-8"), methods=["GET"]),
        Route("/simulator/simulator.js", _static("simulator.js", "text/javascript; charset=utf-8"), methods=["GET"]),
        Route("/simulator/simulator.css", _static("simulator.css", "text/css; charset=utf-8"), methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.engine = engine
    app.state.fake_state = state
    app.add_middleware(RecordRequests, engine=engine)
    return app


__all__ = ["MetaJSONResponse", "create_app"]
