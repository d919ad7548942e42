"""HTTP side of the fake's catalog management (COMMERCE.md §4): Graph endpoints and the ``/_fake/catalogs`` admin API.

Graph POSTs take their parameters as Graph does: in the query string, a form body or a JSON body.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from whatsapp.fake import errors
from whatsapp.fake.catalogs import CatalogAdminError, CatalogStore
from whatsapp.fake.encoding import encode_like_meta
from whatsapp.fake.engine import AdminError, FakeEngine

DEFAULT_PRODUCT_FIELDS = ("id", "retailer_id", "name")  # Meta's default is unverified (COMMERCE.md §7.3)


def store(engine: FakeEngine) -> CatalogStore:
    return engine.catalogs


def _token(request: Request) -> str | None:
    # As app.bearer_token: the Authorization header (Bearer or OAuth), else ?access_token=.
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() in {"bearer", "oauth"} and value.strip():
        return value.strip()
    return request.query_params.get("access_token") or None


def _meta(content: Any, status_code: int = 200) -> Response:
    # Graph answers are escaped like webhooks (as app.MetaJSONResponse).
    return Response(encode_like_meta(content), status_code=status_code, media_type="application/json; charset=UTF-8")


async def _admin_json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise AdminError("body is not valid JSON") from None


async def graph_params(request: Request) -> dict[str, Any]:
    """Query parameters, then a form or JSON body on top (Graph reads all three)."""
    params: dict[str, Any] = dict(request.query_params)
    params.pop("access_token", None)
    raw = await request.body()
    if not raw.strip():
        return params
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded") or content_type.startswith("multipart/"):
        form = await request.form()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
        return params
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise errors.invalid_parameter("Request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise errors.invalid_parameter("Request body must be a JSON object.")
    params.update(body)
    return params


def _fields(data: dict[str, Any], request: Request, default: tuple[str, ...] | None = None) -> dict[str, Any]:
    raw = request.query_params.get("fields")
    if raw:
        wanted = {f.strip() for f in raw.split(",") if f.strip()} | {"id"}
    elif default is not None:
        wanted = set(default)
    else:
        return data
    return {k: v for k, v in data.items() if k in wanted}


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"cat:{index}".encode()).decode().rstrip("=")


def _uncursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return int(text.removeprefix("cat:"))
    except (ValueError, UnicodeDecodeError):
        raise errors.invalid_parameter("Invalid cursor.") from None


# ---------------------------------------------------------------------------------------------- Graph


async def waba_product_catalogs(request: Request, engine: FakeEngine) -> Response:
    waba_id, method, token = request.path_params["node"], request.method, _token(request)
    catalogs = store(engine)
    engine.check_token(token)
    catalogs.injected_error(200, 80008)
    if method == "GET":
        found = catalogs.waba_catalogs(waba_id, token, method)
        data = [_fields({"id": c.id, "name": c.name}, request) for c in found]
        result: dict[str, Any] = {"data": data}
        if data:
            result["paging"] = {"cursors": {"before": _cursor(0), "after": _cursor(0)}}
        return _meta(result)
    params = await graph_params(request)
    catalog_id = str(params.get("catalog_id") or "").strip()
    if method == "POST":
        catalogs.link(waba_id, catalog_id, token)
    else:
        catalogs.unlink(waba_id, catalog_id, token)
    return _meta({"success": True})


async def commerce_settings(request: Request, engine: FakeEngine) -> Response:
    number = engine.number_for(request.path_params["node"], _token(request), request.method)
    catalogs = store(engine)
    if request.method == "GET":
        found = catalogs.settings_of(number)
        with engine.state.lock:
            data = {
                "id": found.id,
                "is_cart_enabled": found.is_cart_enabled,
                "is_catalog_visible": found.is_catalog_visible,
            }
        return _meta({"data": [_fields(data, request)]})
    catalogs.update_settings(number, await graph_params(request))
    return _meta({"success": True})


async def catalog_products(request: Request, engine: FakeEngine) -> Response:
    catalogs = store(engine)
    catalog = catalogs.catalog_for(request.path_params["node"], _token(request), request.method)
    catalogs.injected_error(200)
    if request.method == "POST":
        product = catalogs.create_product(catalog, await graph_params(request))
        return _meta({"id": product.id})
    query = request.query_params
    with engine.state.lock:
        found = [p.graph() for p in catalog.products.values()]
    raw_filter = query.get("filter")
    if raw_filter:
        found = _filtered(found, raw_filter)
    if query.get("return_only_approved_products", "").lower() == "true":
        found = [p for p in found if p["review_status"] == "approved"]
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
    result: dict[str, Any] = {"data": [_fields(p, request, DEFAULT_PRODUCT_FIELDS) for p in page]}
    if page:
        paging: dict[str, Any] = {"cursors": {"before": _cursor(start), "after": _cursor(start + len(page) - 1)}}
        base = request.url.remove_query_params(["after", "before", "access_token"])
        if start + len(page) < len(found):
            paging["next"] = str(base.include_query_params(limit=limit, after=paging["cursors"]["after"]))
        if start > 0:
            paging["previous"] = str(base.include_query_params(limit=limit, before=paging["cursors"]["before"]))
        result["paging"] = paging
    if query.get("summary", "").lower() == "true":
        result["summary"] = {"total_count": len(found)}
    return _meta(result)


def _filtered(products: list[dict[str, Any]], raw: str) -> list[dict[str, Any]]:
    """The filter subset the fake knows: ``{"<field>": {"eq"|"i_contains"|"contains": value}}``, all must hold."""
    try:
        rules = json.loads(raw)
    except json.JSONDecodeError:
        raise errors.invalid_parameter("Param filter must be a JSON object.") from None
    if not isinstance(rules, dict):
        raise errors.invalid_parameter("Param filter must be a JSON object.")
    for field, rule in rules.items():
        if not isinstance(rule, dict) or len(rule) != 1:
            raise errors.invalid_parameter(f"Invalid filter for {field}.")
        ((operator, value),) = rule.items()
        text = str(value)
        if operator == "eq":
            products = [p for p in products if str(p.get(field, "")) == text]
        elif operator == "i_contains":
            products = [p for p in products if text.lower() in str(p.get(field, "")).lower()]
        elif operator == "contains":
            products = [p for p in products if text in str(p.get(field, ""))]
        else:
            raise errors.invalid_parameter(f"Unsupported filter operator {operator}.")
    return products


async def items_batch(request: Request, engine: FakeEngine) -> Response:
    catalogs = store(engine)
    catalog = catalogs.catalog_for(request.path_params["node"], _token(request), "POST")
    catalogs.injected_error(200)
    params = await graph_params(request)
    if isinstance(params.get("requests"), str):  # a form body carries the array as a JSON string
        try:
            params["requests"] = json.loads(params["requests"])
        except json.JSONDecodeError:
            raise errors.invalid_parameter("Param requests must be a JSON array.") from None
    return _meta(catalogs.batch(catalog, params))


async def check_batch_request_status(request: Request, engine: FakeEngine) -> Response:
    catalogs = store(engine)
    catalog = catalogs.catalog_for(request.path_params["node"], _token(request), "GET")
    # A Graph edge: a collection that always holds the one status (Marketing API reference).
    return _meta({"data": [catalogs.batch_status(catalog, request.query_params.get("handle", ""))]})


async def node(request: Request, engine: FakeEngine, kind: str) -> Response:
    """``/{catalog_id}`` (GET) and ``/{product_item_id}`` (GET, POST, DELETE)."""
    node_id, method, token = request.path_params["node"], request.method, _token(request)
    catalogs = store(engine)
    if kind == "catalog":
        catalog = catalogs.catalog_for(node_id, token, method)
        if method != "GET":
            raise errors.unknown_object(node_id, method)
        with engine.state.lock:
            data = {"id": catalog.id, "name": catalog.name, "product_count": len(catalog.products)}
        return _meta(_fields(data, request, ("id", "name")))
    catalog, product = catalogs.product_for(node_id, token, method)
    if method == "GET":
        with engine.state.lock:
            data = product.graph()
        return _meta(_fields(data, request, DEFAULT_PRODUCT_FIELDS))
    if method == "POST":
        catalogs.update_product(catalog, product, await graph_params(request))
    else:
        catalogs.delete_product(catalog, product)
    return _meta({"success": True})


# ---------------------------------------------------------------------------------------------- admin


async def admin_catalogs(request: Request, engine: FakeEngine) -> Response:
    catalogs = store(engine)
    if request.method == "GET":
        with engine.state.lock:
            data = [c.public(catalogs.linked_wabas(c.id)) for c in engine.state.catalogs.values()]
        return JSONResponse({"data": data})
    try:
        catalog = catalogs.create(await _admin_json(request))
    except CatalogAdminError as error:
        raise AdminError(error.message, error.status_code) from None
    with engine.state.lock:
        return JSONResponse(catalog.public(catalogs.linked_wabas(catalog.id)), status_code=201)


async def admin_catalog(request: Request, engine: FakeEngine) -> Response:
    catalogs = store(engine)
    catalog_id = request.path_params["catalog_id"]
    if request.method == "DELETE":
        if not catalogs.delete(catalog_id):
            raise AdminError("unknown catalog", 404)
        return JSONResponse({"ok": True})
    with engine.state.lock:
        catalog = engine.state.catalogs.get(catalog_id)
        if catalog is None:
            raise AdminError("unknown catalog", 404)
        return JSONResponse(catalog.public(catalogs.linked_wabas(catalog_id)))


async def admin_item_errors(request: Request, engine: FakeEngine) -> Response:
    try:
        found = store(engine).set_item_errors(request.path_params["catalog_id"], await _admin_json(request))
    except CatalogAdminError as error:
        raise AdminError(error.message, error.status_code) from None
    return JSONResponse({"item_errors": found})
