"""CloudApiClient against httpx.MockTransport serving the Cloud API fixtures."""

from __future__ import annotations

import email.parser
import email.policy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from whatsapp import outbound_payloads
from whatsapp.cloud_api import DEFAULT_TIMEOUT, CloudApiClient, parse_retry_after
from whatsapp.errors import AmbiguousSendError, CloudApiError, PermanentError, TransientError, classify
from whatsapp.types import MediaInfo, SendResult

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "whatsapp"
TOKEN = "EAAGtestSECRETtoken0123456789"
BASE = "https://graph.facebook.com"
PNID = "106540352242922"
WABA = "102290129340398"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class Recorder:
    """A MockTransport handler that answers from a function and keeps every request."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.answer(request)


def make_client(answer: Callable[[httpx.Request], httpx.Response]) -> tuple[CloudApiClient, Recorder]:
    recorder = Recorder(answer)
    return CloudApiClient(BASE, "v23.0", TOKEN, transport=httpx.MockTransport(recorder)), recorder


def json_response(name: str, status: int = 200, headers: dict[str, str] | None = None) -> Callable:
    return lambda request: httpx.Response(status, json=load(name), headers=headers)


def raising(exc_type: type[Exception]) -> Callable:
    def answer(request: httpx.Request) -> httpx.Response:
        raise exc_type("simulated", request=request)

    return answer


def assert_token_hidden(exc: BaseException) -> None:
    seen = [str(exc), repr(exc), *map(str, exc.args)]
    cause = exc.__cause__
    while cause is not None:
        seen += [str(cause), repr(cause)]
        cause = cause.__cause__
    assert all(TOKEN not in text for text in seen), seen


# -- send -------------------------------------------------------------------------------------------------


def test_send_message_posts_json_with_bearer_and_returns_the_wamid():
    client, recorder = make_client(json_response("outbound_send_response.json"))
    payload = outbound_payloads.text("+16505551234", "Olá! Seu pedido saiu para entrega.")
    result = client.send_message(PNID, payload)
    assert result == SendResult(
        wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJCOTY3NDc0NDFDRUI3NTA0Q0UA", wa_id="16505551234", message_status=None
    )
    (request,) = recorder.requests
    assert (request.method, request.url.path) == ("POST", f"/v23.0/{PNID}/messages")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == payload


def test_send_template_returns_message_status():
    client, _ = make_client(json_response("outbound_send_response_template_accepted.json"))
    result = client.send_message(PNID, outbound_payloads.template("5511912345678", "hello_world", "en_US", []))
    assert result == SendResult(
        wamid="wamid.HBgNNTUxMTkxMjM0NTY3OBUCABEYEjYzNEQzNzJFQjhDMkNENzU5OQA=",
        wa_id="5511912345678",
        message_status="accepted",
    )


def test_requests_use_explicit_default_timeouts():
    client, recorder = make_client(json_response("outbound_send_response.json"))
    client.send_message(PNID, outbound_payloads.text("16505551234", "hi"))
    timeout = recorder.requests[0].extensions["timeout"]
    assert (timeout["connect"], timeout["read"]) == (5.0, 15.0)
    assert (DEFAULT_TIMEOUT.connect, DEFAULT_TIMEOUT.read) == (5.0, 15.0)


@pytest.mark.parametrize(
    ("fixture", "status", "error_class", "code"),
    [
        ("error_130429.json", 400, TransientError, 130429),
        ("error_131056.json", 400, TransientError, 131056),
        ("error_2_service_unavailable.json", 503, TransientError, 2),
        ("error_4_application_request_limit.json", 429, TransientError, 4),
        ("error_132001.json", 404, PermanentError, 132001),
        ("error_132000.json", 400, PermanentError, 132000),
        ("error_131047_sync.json", 400, PermanentError, 131047),
        ("error_100_invalid_parameter.json", 400, PermanentError, 100),
        ("error_100_33_unknown_object.json", 400, PermanentError, 100),
        ("error_190_token_expired.json", 401, PermanentError, 190),
        ("error_190_invalid_oauth_token_463.json", 401, PermanentError, 190),
        ("error_200_permission_denied.json", 403, PermanentError, 200),
    ],
)
def test_send_errors_are_classified(fixture, status, error_class, code):
    client, _ = make_client(json_response(fixture, status))
    with pytest.raises(error_class) as excinfo:
        client.send_message(PNID, outbound_payloads.text("16505551234", "hi"))
    error = excinfo.value
    assert (error.code, error.http_status) == (code, status)
    assert error.fbtrace_id == load(fixture)["error"].get("fbtrace_id")
    assert_token_hidden(error)


def test_rate_limit_error_carries_meta_fields():
    client, _ = make_client(json_response("error_130429.json", 400))
    with pytest.raises(TransientError) as excinfo:
        client.send_message(PNID, outbound_payloads.text("16505551234", "hi"))
    error = excinfo.value
    assert (error.title, error.details, error.subcode, error.retry_after) == (
        "Rate limit hit",
        "Cloud API message throughput has been reached.",
        2494055,
        None,
    )
    assert str(error) == (
        "(#130429) Rate limit hit — Cloud API message throughput has been reached. "
        "[code 130429, HTTP 400, fbtrace_id Az8or2yhqkZfEZ-_4Qn_Bam]"
    )


def test_retry_after_header_is_exposed_on_transient_errors():
    client, _ = make_client(json_response("error_4_application_request_limit.json", 429, {"Retry-After": "120"}))
    with pytest.raises(TransientError) as excinfo:
        client.send_message(PNID, outbound_payloads.text("16505551234", "hi"))
    assert excinfo.value.retry_after == 120.0


def test_template_not_found_is_permanent_with_details():
    client, _ = make_client(json_response("error_132001.json", 404))
    with pytest.raises(PermanentError) as excinfo:
        client.send_message(PNID, outbound_payloads.template("16505551234", "miimii_onboarding_flow", "en_US", []))
    assert excinfo.value.details == "template name (miimii_onboarding_flow) does not exist in en_US"
    assert excinfo.value.title == "Template name does not exist in the translation"


def test_gateway_error_without_json_is_transient():
    client, _ = make_client(lambda request: httpx.Response(502, text="<html>Bad Gateway</html>"))
    with pytest.raises(TransientError) as excinfo:
        client.send_message(PNID, outbound_payloads.text("16505551234", "hi"))
    assert (excinfo.value.code, excinfo.value.http_status) == (None, 502)


@pytest.mark.parametrize(
    "exc_type", [httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError, httpx.ReadError]
)
def test_send_that_may_have_reached_meta_is_ambiguous(exc_type):
    client, _ = make_client(raising(exc_type))
    with pytest.raises(AmbiguousSendError) as excinfo:
        client.send_message(PNID, outbound_payloads.text("16505551234", "hi"))
    assert not isinstance(excinfo.value, TransientError | PermanentError)
    assert isinstance(excinfo.value, CloudApiError)
    assert_token_hidden(excinfo.value)


@pytest.mark.parametrize("exc_type", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
def test_send_that_never_left_is_transient(exc_type):
    client, _ = make_client(raising(exc_type))
    with pytest.raises(TransientError) as excinfo:
        client.send_message(PNID, outbound_payloads.text("16505551234", "hi"))
    assert_token_hidden(excinfo.value)


def test_send_accepted_without_a_message_id_is_ambiguous():
    client, _ = make_client(lambda request: httpx.Response(200, json={"messaging_product": "whatsapp"}))
    with pytest.raises(AmbiguousSendError, match="no message id"):
        client.send_message(PNID, outbound_payloads.text("16505551234", "hi"))


@pytest.mark.parametrize("exc_type", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ConnectError])
def test_idempotent_get_network_failures_are_transient(exc_type):
    client, _ = make_client(raising(exc_type))
    with pytest.raises(TransientError):
        client.get_media("2621233374848975")


def test_mark_read_posts_the_read_receipt():
    client, recorder = make_client(json_response("mark_as_read_response.json"))
    wamid = load("outbound_mark_as_read_request.json")["message_id"]
    assert client.mark_read(PNID, wamid) is None
    client.mark_read(PNID, wamid, typing_indicator=True)
    first, second = (json.loads(r.content) for r in recorder.requests)
    assert first == load("outbound_mark_as_read_request.json")
    assert second == load("outbound_mark_as_read_typing_request.json")
    assert {r.url.path for r in recorder.requests} == {f"/v23.0/{PNID}/messages"}


def test_mark_read_timeout_is_transient_not_ambiguous():
    client, _ = make_client(raising(httpx.ReadTimeout))
    with pytest.raises(TransientError):
        client.mark_read(PNID, "wamid.abc")


# -- media ------------------------------------------------------------------------------------------------


def _multipart_fields(request: httpx.Request) -> dict[str, tuple[bytes, str | None, str]]:
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.content)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields[name] = (part.get_payload(decode=True), part.get_filename(), part.get_content_type())
    return fields


def test_upload_media_sends_multipart_fields():
    client, recorder = make_client(json_response("media_upload_response.json"))
    content = b"\x89PNG\r\n\x1a\nfake-image-bytes"
    assert client.upload_media(PNID, content, "image/png", "comprovante.png") == "4490709327384033"
    (request,) = recorder.requests
    assert (request.method, request.url.path) == ("POST", f"/v23.0/{PNID}/media")
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    fields = _multipart_fields(request)
    assert set(fields) == {"messaging_product", "type", "file"}
    assert fields["messaging_product"][0] == b"whatsapp"
    assert fields["type"][0] == b"image/png"
    assert fields["file"] == (content, "comprovante.png", "image/png")


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "media_url_response_real.json",
            MediaInfo(
                url="https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=564952118844469&ext=1672849737"
                "&hash=ATsyMpSaV_WxR3Br_g9BaknBhBlKzULEcCGeboa2XbcIzw",
                mime_type="image/jpeg",
                sha256="838ec83e79a72b51f8d927b7af0265d5fea751692d305b1f916efeb202633ba0",
                file_size=93895,
            ),
        ),
        # The OpenAPI example gives file_size as a string.
        ("media_url_response.json", MediaInfo(url="<URL>", mime_type="image/jpeg", sha256="<HASH>", file_size=303833)),
    ],
)
def test_get_media_returns_url_and_metadata(fixture, expected):
    client, recorder = make_client(json_response(fixture))
    media_id = load(fixture)["id"]
    assert client.get_media(media_id) == expected
    assert (recorder.requests[0].method, recorder.requests[0].url.path) == ("GET", f"/v23.0/{media_id}")


def test_download_media_sends_the_bearer_token_to_the_media_host():
    url = load("media_url_response_real.json")["url"]
    client, recorder = make_client(
        lambda request: httpx.Response(200, content=b"JPEGDATA", headers={"Content-Type": "image/jpeg"})
    )
    assert client.download_media(url) == b"JPEGDATA"
    (request,) = recorder.requests
    assert str(request.url) == url
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_download_of_an_expired_media_url_is_permanent():
    client, _ = make_client(lambda request: httpx.Response(404, text="Not Found"))
    with pytest.raises(PermanentError) as excinfo:
        client.download_media("https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1")
    assert excinfo.value.http_status == 404
    assert_token_hidden(excinfo.value)


def test_download_refuses_non_http_urls():
    client, recorder = make_client(lambda request: httpx.Response(200))
    with pytest.raises(PermanentError, match="http"):
        client.download_media("file:///etc/passwd")
    assert recorder.requests == []


def test_delete_media():
    client, recorder = make_client(json_response("media_delete_response.json"))
    assert client.delete_media("4490709327384033") is None
    assert (recorder.requests[0].method, recorder.requests[0].url.path) == ("DELETE", "/v23.0/4490709327384033")


# -- phone number and templates ---------------------------------------------------------------------------


def test_get_phone_number_with_fields():
    client, recorder = make_client(json_response("phone_number_get_response.json"))
    assert client.get_phone_number(PNID, ["verified_name", "quality_rating"]) == load("phone_number_get_response.json")
    request = recorder.requests[0]
    assert request.url.path == f"/v23.0/{PNID}"
    assert request.url.params["fields"] == "verified_name,quality_rating"


def test_list_templates_follows_three_pages():
    fixture = load("template_list_response.json")
    pages = {
        None: {
            "data": fixture["data"],
            "paging": {
                "cursors": {"before": "B1", "after": "A1"},
                "next": f"{BASE}/v23.0/{WABA}/message_templates?limit=2&after=A1",
            },
        },
        "A1": {
            "data": [{"name": "order_shipped", "id": "3"}, {"name": "pix_pagamento", "id": "4"}],
            "paging": {
                "cursors": {"before": "B2", "after": "A2"},
                "next": f"{BASE}/v23.0/{WABA}/message_templates?limit=2&after=A2",
            },
        },
        "A2": {"data": [{"name": "csat_survey", "id": "5"}], "paging": {"cursors": {"before": "B3", "after": "A3"}}},
    }
    client, recorder = make_client(lambda request: httpx.Response(200, json=pages[request.url.params.get("after")]))
    names = [t["name"] for t in client.list_templates(WABA, limit=2)]
    assert names == ["hello_world", "2023_april_promo", "order_shipped", "pix_pagamento", "csat_survey"]
    assert [r.url.params.get("after") for r in recorder.requests] == [None, "A1", "A2"]
    assert {r.url.path for r in recorder.requests} == {f"/v23.0/{WABA}/message_templates"}
    assert {r.url.params["limit"] for r in recorder.requests} == {"2"}


def test_list_templates_stops_without_next():
    client, recorder = make_client(json_response("template_list_response.json"))
    assert [t["id"] for t in client.list_templates(WABA)] == ["1192339204654487", "920070352646140"]
    assert len(recorder.requests) == 1


def test_list_templates_takes_the_cursor_from_next_when_cursors_are_missing():
    pages = {
        None: {"data": [{"name": "a"}], "paging": {"next": f"{BASE}/v23.0/{WABA}/message_templates?after=XYZ"}},
        "XYZ": {"data": [{"name": "b"}], "paging": {}},
    }
    client, _ = make_client(lambda request: httpx.Response(200, json=pages[request.url.params.get("after")]))
    assert [t["name"] for t in client.list_templates(WABA)] == ["a", "b"]


def test_list_templates_refuses_a_repeating_cursor():
    page = {"data": [], "paging": {"cursors": {"after": "SAME"}, "next": "https://graph.facebook.com/next"}}
    client, _ = make_client(lambda request: httpx.Response(200, json=page))
    with pytest.raises(PermanentError, match="cursor"):
        list(client.list_templates(WABA))


def test_create_template_posts_the_definition():
    client, recorder = make_client(json_response("template_create_response.json"))
    body = load("template_create_utility_request.json")
    assert client.create_template(WABA, body) == {"category": "UTILITY", "id": "1689556908129832", "status": "PENDING"}
    request = recorder.requests[0]
    assert (request.method, request.url.path, json.loads(request.content)) == (
        "POST",
        f"/v23.0/{WABA}/message_templates",
        body,
    )


# -- configuration and secrecy ----------------------------------------------------------------------------


def test_token_is_not_in_the_client_repr():
    client, _ = make_client(json_response("outbound_send_response.json"))
    assert TOKEN not in repr(client)
    assert repr(client) == "<CloudApiClient https://graph.facebook.com/v23.0>"


def test_version_without_v_prefix_and_base_url_with_slash():
    recorder = Recorder(json_response("phone_number_get_response.json"))
    client = CloudApiClient(BASE + "/", "23.0", TOKEN, timeout=3.0, transport=httpx.MockTransport(recorder))
    client.get_phone_number(PNID)
    assert str(recorder.requests[0].url) == f"{BASE}/v23.0/{PNID}"
    assert recorder.requests[0].extensions["timeout"]["read"] == 3.0


def test_ids_are_escaped_into_one_path_segment():
    client, recorder = make_client(json_response("phone_number_get_response.json"))
    client.get_phone_number("123/../../me")
    assert recorder.requests[0].url.raw_path.decode() == "/v23.0/123%2F..%2F..%2Fme"


def test_empty_ids_and_tokens_are_refused():
    client, _ = make_client(json_response("outbound_send_response.json"))
    with pytest.raises(ValueError, match="phone_number_id"):
        client.send_message("", {})
    with pytest.raises(ValueError, match="token"):
        CloudApiClient(BASE, "v23.0", "")


def test_client_closes_as_a_context_manager():
    recorder = Recorder(json_response("phone_number_get_response.json"))
    with CloudApiClient(BASE, "v23.0", TOKEN, transport=httpx.MockTransport(recorder)) as client:
        client.get_phone_number(PNID)
    with pytest.raises(RuntimeError):
        client.get_phone_number(PNID)


def test_parse_retry_after_accepts_seconds_and_http_dates():
    assert parse_retry_after("30") == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412420.0) == 60.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


# -- classify ---------------------------------------------------------------------------------------------


def _error_body(code: int, **extra: Any) -> dict[str, Any]:
    return {"error": {"message": f"(#{code}) Something", "type": "OAuthException", "code": code, **extra}}


@pytest.mark.parametrize("code", [130429, 131056, 131000, 131016, 131057, 2, 4, 80007])
def test_classify_transient_codes(code):
    assert isinstance(classify(400, _error_body(code)), TransientError)


@pytest.mark.parametrize("code", [100, 131047, 132000, 132001, 131026, 190, 10, 131048, 131050, 368])
def test_classify_permanent_codes(code):
    error = classify(400, _error_body(code))
    assert isinstance(error, PermanentError)
    assert (error.code, error.title) == (code, "Something")


def test_classify_any_5xx_is_transient_and_4xx_without_body_is_permanent():
    assert isinstance(classify(500, _error_body(100)), TransientError)
    assert isinstance(classify(503, None), TransientError)
    assert isinstance(classify(429, "Too Many Requests"), TransientError)
    error = classify(404, None)
    assert isinstance(error, PermanentError)
    assert str(error) == "Cloud API answered HTTP 404 without a Graph API error object [HTTP 404]"


def test_classify_honours_metas_is_transient_hint():
    assert isinstance(classify(400, _error_body(1, is_transient=True)), TransientError)
    assert isinstance(classify(400, _error_body(1)), PermanentError)


def test_classify_keeps_retry_after_only_on_transient_errors():
    assert classify(400, load("error_130429.json"), retry_after=4.0).retry_after == 4.0
    assert not hasattr(classify(400, load("error_132000.json"), retry_after=4.0), "retry_after")


def test_errors_can_be_raised_by_callers_with_keywords_only():
    error = PermanentError(code=None, title="Messages of type poll cannot be sent.")
    assert (str(error), error.message, error.code, error.http_status) == (
        "Messages of type poll cannot be sent.",
        "Messages of type poll cannot be sent.",
        None,
        None,
    )
    assert TransientError().message == "Cloud API error"
