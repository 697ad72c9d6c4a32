"""Errors as an OpenAI SDK user sees them: the exception class, the status,
the OpenAI error shape, upstream details passed through, and the
`x-keel-invocation-id` header on every error response."""

from __future__ import annotations

import json
import time

import openai
import pytest

from support import (
    FAKE_UPSTREAM_KEY,
    MAX_BODY_BYTES,
    REQUEST_TIMEOUT_MS,
    Gateway,
    assert_invocation_id,
    assert_openai_error,
    header_value,
    open_sse,
)

MSGS = [{"role": "user", "content": "hello there"}]


def check_status_error(exc: openai.APIStatusError, status: int, *, type_=None, code=None) -> dict:
    """Status, OpenAI error shape of the raw body, invocation id header."""
    assert exc.status_code == status, f"expected HTTP {status}, got {exc.status_code}: {exc}"
    assert_invocation_id(exc.response.headers.get("x-keel-invocation-id"))
    body = json.loads(exc.response.content)
    return assert_openai_error(body, status, type_=type_, code=code)


# --------------------------------------------------------------------------- authentication


def test_wrong_key_is_authentication_error(gateway: Gateway):
    c = gateway.client(api_key="sk-not-the-master-key")
    with pytest.raises(openai.AuthenticationError) as ei:
        c.chat.completions.create(model="fake-chat", messages=MSGS)
    check_status_error(ei.value, 401, type_="authentication_error", code="invalid_api_key")


def test_no_key_is_authentication_error(gateway: Gateway):
    # The SDK always sends a key unless the header is explicitly omitted.
    c = gateway.client(api_key="unused")
    with pytest.raises(openai.AuthenticationError) as ei:
        c.chat.completions.create(model="fake-chat", messages=MSGS, extra_headers={"Authorization": openai.omit})
    check_status_error(ei.value, 401, type_="authentication_error", code="invalid_api_key")


def test_no_key_raw(gateway: Gateway):
    r = gateway.raw("POST", "/v1/chat/completions", {"model": "fake-chat", "messages": MSGS}, auth=False)
    assert r.status == 401, r
    assert_invocation_id(r.header("x-keel-invocation-id"))
    assert_openai_error(r.json(), 401, type_="authentication_error", code="invalid_api_key")


def test_wrong_key_on_embeddings_and_models(gateway: Gateway):
    c = gateway.client(api_key="sk-wrong")
    with pytest.raises(openai.AuthenticationError) as ei:
        c.embeddings.create(model="fake-embed", input="x")
    check_status_error(ei.value, 401, type_="authentication_error", code="invalid_api_key")
    with pytest.raises(openai.AuthenticationError):
        c.models.list()


def test_master_key_is_not_sent_upstream(gateway: Gateway, client, fake):
    marker = "marker-auth-3f1c"
    client.chat.completions.create(model="fake-chat", messages=[{"role": "user", "content": marker}])
    req = fake.wait_request(marker)
    assert header_value(req["headers"], "authorization") == f"Bearer {FAKE_UPSTREAM_KEY}"
    assert gateway.master_key not in json.dumps(req)


# --------------------------------------------------------------------------- invalid requests


def test_unknown_model_is_not_found(client):
    with pytest.raises(openai.NotFoundError) as ei:
        client.chat.completions.create(model="no-such-model-xyz", messages=MSGS)
    err = check_status_error(ei.value, 404, code="model_not_found")
    assert "no-such-model-xyz" in err["message"]


def test_unknown_provider_prefix_is_not_found(client):
    with pytest.raises(openai.NotFoundError) as ei:
        client.chat.completions.create(model="nope/fake-chat", messages=MSGS)
    check_status_error(ei.value, 404, code="model_not_found")


def test_unknown_embedding_model_is_not_found(client):
    with pytest.raises(openai.NotFoundError) as ei:
        client.embeddings.create(model="no-such-embedder", input="x")
    check_status_error(ei.value, 404, code="model_not_found")


def test_empty_messages_is_bad_request(client, fake):
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(model="fake-chat", messages=[])
    check_status_error(ei.value, 400, type_="invalid_request_error")


def test_wrong_type_is_bad_request(client):
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(model="fake-chat", messages=MSGS, temperature="hot")  # type: ignore[arg-type]
    err = check_status_error(ei.value, 400, type_="invalid_request_error")
    assert "temperature" in (err.get("param") or "") + err["message"], err


def test_messages_not_a_list_is_bad_request(client):
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(model="fake-chat", messages="hello")  # type: ignore[arg-type]
    check_status_error(ei.value, 400, type_="invalid_request_error")


def test_missing_model_is_bad_request(client):
    with pytest.raises(openai.BadRequestError) as ei:
        client.post("/chat/completions", body={"messages": MSGS}, cast_to=object)
    err = check_status_error(ei.value, 400, type_="invalid_request_error")
    assert "model" in (err.get("param") or "") + err["message"], err


def test_missing_model_raw(gateway: Gateway):
    r = gateway.raw("POST", "/v1/chat/completions", {"messages": MSGS})
    assert r.status == 400, r
    assert_invocation_id(r.header("x-keel-invocation-id"))
    assert_openai_error(r.json(), 400, type_="invalid_request_error")


def test_malformed_json_is_bad_request(gateway: Gateway):
    r = gateway.raw(
        "POST",
        "/v1/chat/completions",
        b'{"model": "fake-chat", "messages": [{"role": "user", "content": "hi"}',
        headers={"content-type": "application/json"},
    )
    assert r.status == 400, r
    assert_invocation_id(r.header("x-keel-invocation-id"))
    assert_openai_error(r.json(), 400, type_="invalid_request_error")


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"null", b""], ids=["array", "string", "null", "empty"])
def test_body_not_a_json_object_is_bad_request(gateway: Gateway, body: bytes):
    r = gateway.raw("POST", "/v1/chat/completions", body, headers={"content-type": "application/json"})
    assert r.status == 400, r
    assert_invocation_id(r.header("x-keel-invocation-id"))
    assert_openai_error(r.json(), 400, type_="invalid_request_error")


def test_malformed_json_embeddings(gateway: Gateway):
    r = gateway.raw("POST", "/v1/embeddings", b"not json", headers={"content-type": "application/json"})
    assert r.status == 400, r
    assert_invocation_id(r.header("x-keel-invocation-id"))
    assert_openai_error(r.json(), 400, type_="invalid_request_error")


def test_body_too_large_is_413(client, fake):
    big = "word " * (MAX_BODY_BYTES // 5 + 1000)
    marker = "marker-413-9a7e"
    with pytest.raises(openai.APIStatusError) as ei:
        client.chat.completions.create(model="fake-chat", messages=[{"role": "user", "content": marker + " " + big}])
    check_status_error(ei.value, 413)
    assert fake.requests_for(marker) == [], "an oversized body must not reach the upstream"


def test_body_just_under_limit_is_accepted(client):
    # Leaves room for the JSON around the content.
    text = "word " * ((MAX_BODY_BYTES - 1024) // 5)
    r = client.chat.completions.create(model="fake-chat", messages=[{"role": "user", "content": text}], max_tokens=1)
    assert r.choices


# --------------------------------------------------------------------------- upstream failures


def test_upstream_429_passes_through_with_retry_after(client, fault_messages):
    with pytest.raises(openai.RateLimitError) as ei:
        client.chat.completions.create(model="fault-429", messages=MSGS)
    err = check_status_error(ei.value, 429)
    assert fault_messages["fault-429"] in err["message"]
    assert ei.value.response.headers.get("retry-after") == "7"


def test_upstream_429_with_raw_response(client):
    with pytest.raises(openai.RateLimitError) as ei:
        client.chat.completions.with_raw_response.create(model="fault-429", messages=MSGS)
    assert ei.value.response.headers.get("retry-after") == "7"


def test_upstream_500_passes_through(client, fault_messages):
    with pytest.raises(openai.InternalServerError) as ei:
        client.chat.completions.create(model="fault-500", messages=MSGS)
    err = check_status_error(ei.value, 500)
    assert fault_messages["fault-500"] in err["message"]


def test_upstream_400_passes_through(client, fault_messages):
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(model="fault-400", messages=MSGS)
    err = check_status_error(ei.value, 400)
    assert fault_messages["fault-400"] in err["message"]


def test_upstream_malformed_is_502(client):
    with pytest.raises(openai.APIStatusError) as ei:
        client.chat.completions.create(model="fault-malformed", messages=MSGS)
    check_status_error(ei.value, 502)


def test_upstream_connect_failure_is_502(client):
    with pytest.raises(openai.APIStatusError) as ei:
        client.chat.completions.create(model="dead-model", messages=MSGS)
    check_status_error(ei.value, 502)


def test_upstream_connect_failure_stream_is_502(client):
    with pytest.raises(openai.APIStatusError) as ei:
        client.chat.completions.create(model="dead/dead-model", messages=MSGS, stream=True)
    check_status_error(ei.value, 502)


def test_upstream_timeout_is_504(client):
    t0 = time.monotonic()
    with pytest.raises(openai.APIStatusError) as ei:
        client.chat.completions.create(model="fault-hang", messages=MSGS, timeout=REQUEST_TIMEOUT_MS / 1000 + 20)
    elapsed = time.monotonic() - t0
    check_status_error(ei.value, 504)
    limit = REQUEST_TIMEOUT_MS / 1000
    assert limit * 0.9 <= elapsed <= limit + 3, f"504 after {elapsed:.2f}s, configured timeout {limit}s"


# --------------------------------------------------------------------------- broken streams


def test_stream_cut_surfaces_api_error(client):
    stream = client.chat.completions.create(model="fault-cut", messages=MSGS, stream=True)
    assert_invocation_id(stream.response.headers.get("x-keel-invocation-id"))
    got = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            got.append(chunk)
    assert got, "the part of the stream sent before the cut should reach the client"


def test_stream_cut_ends_with_error_event(gateway: Gateway):
    s = open_sse(gateway, {"model": "fault-cut", "messages": MSGS, "stream": True})
    try:
        assert s.status == 200
        assert_invocation_id(s.headers.get("x-keel-invocation-id"))
        events = list(s.iter_data())
    finally:
        s.close()
    assert events, "no events"
    assert "[DONE]" not in events, f"a cut stream must not end with [DONE]: {events[-3:]}"
    last = json.loads(events[-1])
    assert_openai_error(last, 200)
    for e in events[:-1]:
        assert "error" not in json.loads(e), e


def test_garbage_stream_surfaces_api_error(client):
    with pytest.raises(openai.APIError):
        stream = client.chat.completions.create(model="fault-garbage-stream", messages=MSGS, stream=True)
        for _ in stream:
            pass


def test_stream_error_before_first_chunk_has_status(client):
    """An upstream that fails before streaming anything gives a plain HTTP error."""
    with pytest.raises(openai.InternalServerError) as ei:
        client.chat.completions.create(model="fault-500", messages=MSGS, stream=True)
    check_status_error(ei.value, 500)
    with pytest.raises(openai.RateLimitError) as ei2:
        client.chat.completions.create(model="fault-429", messages=MSGS, stream=True)
    assert ei2.value.response.headers.get("retry-after") == "7"
