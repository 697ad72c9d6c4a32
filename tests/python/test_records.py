"""Invocation records, read back with `keel logs --json` / `keel logs show`.

A module fixture makes one call of each kind (ok, streamed, prefixed model,
cached tokens, embeddings, real model, each error class, a bad key, a client
that disconnects mid-stream, an upstream without usage), each with its own
trace id; the tests then check that every call has exactly one record and
that its fields match what the client saw.
"""

from __future__ import annotations

import json
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import openai
import pytest

from support import (
    FAKE_UPSTREAM_KEY,
    LOCAL_MODEL,
    MAX_BODY_BYTES,
    PRICES,
    RECORD_TIMEOUT_S,
    REQUEST_TIMEOUT_MS,
    FakeUpstream,
    Gateway,
    assert_invocation_id,
    new_span_id,
    new_trace_id,
    open_sse,
)

LONG_STREAM_WORDS = 500  # words (= completion tokens) of the fake's fault-long-stream answer


def fake_prompt_tokens(messages: list[dict]) -> int:
    """The fake upstream's prompt token count: words of each content + 3 per message."""
    return sum(len(str(m.get("content", "")).split()) + 3 for m in messages)


def fake_echo(messages: list[dict]) -> str:
    last_user = [m for m in messages if m["role"] == "user"][-1]["content"]
    return "Echo: " + " ".join(last_user.split())


def expected_cost(model: str, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> float:
    p = PRICES[model]
    return (
        (input_tokens - cached_tokens) * p["input"] + cached_tokens * p["cached_input"] + output_tokens * p["output"]
    ) / 1e6


@dataclass
class Call:
    name: str
    trace_id: str
    invocation_id: str | None = None
    error: BaseException | None = None
    sent: Any = None  # request body as sent
    usage: dict | None = None  # usage the client received
    response: dict | None = None  # JSON the client received (non-stream)
    content: str | None = None  # assembled stream content
    model: str | None = None  # `model` the client received
    extra: dict = field(default_factory=dict)

    def inv(self) -> str:
        if self.error is not None:
            pytest.fail(f"call {self.name!r} failed on the client side: {self.error!r}")
        assert self.invocation_id, f"call {self.name!r} got no x-keel-invocation-id"
        return self.invocation_id


MSGS = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Tell me about   record keeping please"},
]


def _stream(client: openai.OpenAI, call: Call, **kw: Any) -> None:
    stream = client.chat.completions.create(stream=True, extra_headers={"x-keel-trace-id": call.trace_id}, **kw)
    call.invocation_id = stream.response.headers.get("x-keel-invocation-id")
    call.content = ""
    for chunk in stream:  # content accumulates as it arrives: kept when the stream breaks
        call.model = chunk.model
        if chunk.usage is not None:
            call.usage = chunk.usage.model_dump()
        for ch in chunk.choices:
            call.content += ch.delta.content or ""


def _ok(client: openai.OpenAI, call: Call, create: Callable, headers: dict | None = None, **kw: Any) -> None:
    call.sent = kw
    raw = create(extra_headers={"x-keel-trace-id": call.trace_id, **(headers or {})}, **kw)
    call.invocation_id = raw.headers.get("x-keel-invocation-id")
    parsed = raw.parse()
    call.response = json.loads(raw.text)
    call.model = parsed.model
    call.usage = parsed.usage.model_dump() if parsed.usage else None


def _err(client: openai.OpenAI, call: Call, **kw: Any) -> None:
    call.sent = kw
    try:
        client.chat.completions.create(extra_headers={"x-keel-trace-id": call.trace_id}, **kw)
    except openai.APIStatusError as e:
        call.invocation_id = e.response.headers.get("x-keel-invocation-id")
        call.extra["status"] = e.status_code
        call.extra["message"] = e.message
        return
    raise AssertionError(f"{call.name}: expected an error response")


@pytest.fixture(scope="module")
def calls(gateway: Gateway, client: openai.OpenAI) -> dict[str, Call]:
    started = datetime.now(timezone.utc)
    out: dict[str, Call] = {}

    def run(name: str, fn: Callable[[Call], None]) -> None:
        call = Call(name, new_trace_id())
        try:
            fn(call)
        except Exception as exc:  # noqa: BLE001 - reported by the tests that use this call
            call.error = exc
        out[name] = call

    chat_raw = client.chat.completions.with_raw_response.create
    run("chat_ok", lambda c: _ok(client, c, chat_raw, model="fake-chat", messages=MSGS))

    def traceparent(c: Call) -> None:
        c.extra["span"] = new_span_id()
        _ok(
            client,
            c,
            chat_raw,
            headers={"traceparent": f"00-{c.trace_id}-{c.extra['span']}-01", "x-keel-trace-id": openai.omit},
            model="fake-chat",
            messages=MSGS,
        )

    run("traceparent", traceparent)
    run("prefixed", lambda c: _ok(client, c, chat_raw, model="fake/fake-chat", messages=MSGS))
    run("cached", lambda c: _ok(client, c, chat_raw, model="fake-cached", messages=MSGS))
    run("no_usage", lambda c: _ok(client, c, chat_raw, model="fault-no-usage", messages=MSGS))
    run(
        "local",
        lambda c: _ok(client, c, chat_raw, model=LOCAL_MODEL, messages=MSGS, max_tokens=8, temperature=0),
    )
    run(
        "stream_usage",
        lambda c: _stream(client, c, model="fake-chat", messages=MSGS, stream_options={"include_usage": True}),
    )
    run("stream_no_usage", lambda c: _stream(client, c, model="fake-chat", messages=MSGS))
    run("stream_no_usage_upstream", lambda c: _stream(client, c, model="fault-no-usage", messages=MSGS))
    run(
        "embeddings",
        lambda c: _ok(
            client,
            c,
            client.embeddings.with_raw_response.create,
            model="fake-embed",
            input=["one two three", "four five"],
            encoding_format="float",
        ),
    )
    run("unknown_model", lambda c: _err(client, c, model="no-such-model", messages=MSGS))
    run("invalid_request", lambda c: _err(client, c, model="fake-chat", messages=[]))
    run(
        "body_too_large",
        lambda c: _err(
            client, c, model="fake-chat", messages=[{"role": "user", "content": "x " * (MAX_BODY_BYTES // 2 + 1000)}]
        ),
    )
    run("upstream_500", lambda c: _err(client, c, model="fault-500", messages=MSGS))
    run("upstream_429", lambda c: _err(client, c, model="fault-429", messages=MSGS))
    run("upstream_malformed", lambda c: _err(client, c, model="fault-malformed", messages=MSGS))
    run("upstream_connect", lambda c: _err(client, c, model="dead-model", messages=MSGS))
    run("upstream_timeout", lambda c: _err(client, c, model="fault-hang", messages=MSGS))

    def unauthorized(c: Call) -> None:
        _err(gateway.client(api_key="sk-wrong-key"), c, model="fake-chat", messages=MSGS)

    run("unauthorized", unauthorized)

    def malformed_json(c: Call) -> None:
        r = gateway.raw(
            "POST",
            "/v1/chat/completions",
            b'{"model": "fake-chat", "messages": [',
            headers={"content-type": "application/json", "x-keel-trace-id": c.trace_id},
        )
        c.extra["status"] = r.status
        c.invocation_id = r.header("x-keel-invocation-id")

    run("malformed_json", malformed_json)

    def stream_cut(c: Call) -> None:
        try:
            _stream(client, c, model="fault-cut", messages=MSGS)
        except openai.APIError as e:
            c.extra["error"] = e
            return
        raise AssertionError("fault-cut stream ended without an error")

    run("stream_cut", stream_cut)

    def disconnect(c: Call) -> None:
        body = {"model": "fault-long-stream", "messages": MSGS, "stream": True}
        s = open_sse(gateway, body, headers={"x-keel-trace-id": c.trace_id})
        try:
            c.invocation_id = s.headers.get("x-keel-invocation-id")
            c.extra["status"] = s.status
            got = []
            for data in s.iter_data():
                got.append(data)
                if len(got) == 3:
                    break
            c.extra["events"] = got
        finally:
            s.close()  # hang up after three chunks, long before the stream ends

    run("client_disconnected", disconnect)

    for c in out.values():
        c.extra["started"] = started
    return out


def record_of(gateway: Gateway, call: Call, timeout: float = RECORD_TIMEOUT_S) -> dict:
    """The single record of `call`, found by its trace id, with bodies."""
    inv = call.inv()
    recs = gateway.wait_trace(call.trace_id, count=1, timeout=timeout)
    assert recs[0]["id"] == inv, f"record id {recs[0]['id']} != x-keel-invocation-id {inv}"
    return gateway.show(inv)


def assert_tokens_match_usage(rec: dict, usage: dict | None) -> None:
    assert usage is not None, "the client received no usage"
    assert rec["input_tokens"] == usage["prompt_tokens"], (rec["input_tokens"], usage)
    assert rec["output_tokens"] == usage["completion_tokens"], (rec["output_tokens"], usage)
    cached = ((usage.get("prompt_tokens_details") or {}).get("cached_tokens")) or 0
    assert (rec["cached_tokens"] or 0) == cached, (rec["cached_tokens"], usage)
    assert rec["token_source"] == "provider"


# --------------------------------------------------------------------------- one record per call


ALL_CALLS = [
    "chat_ok",
    "traceparent",
    "prefixed",
    "cached",
    "no_usage",
    "local",
    "stream_usage",
    "stream_no_usage",
    "stream_no_usage_upstream",
    "embeddings",
    "unknown_model",
    "invalid_request",
    "body_too_large",
    "upstream_500",
    "upstream_429",
    "upstream_malformed",
    "upstream_connect",
    "upstream_timeout",
    "unauthorized",
    "malformed_json",
    "stream_cut",
    "client_disconnected",
]


@pytest.mark.parametrize("name", ALL_CALLS)
def test_exactly_one_record_per_invocation(gateway: Gateway, calls: dict[str, Call], name: str):
    call = calls[name]
    inv = assert_invocation_id(call.inv())
    recs = gateway.wait_trace(call.trace_id, count=1, timeout=15)
    assert [r["id"] for r in recs] == [inv]
    everything = gateway.logs("--limit", "100000")
    assert [r["id"] for r in everything].count(inv) == 1


def test_all_calls_listed_newest_first(gateway: Gateway, calls: dict[str, Call]):
    for c in calls.values():
        gateway.wait_trace(c.trace_id, count=1, timeout=15)
    recs = gateway.logs("--limit", "100000")
    stamps = [datetime.fromisoformat(r["created_at"]) for r in recs]
    assert stamps == sorted(stamps, reverse=True), "keel logs must list newest first"


# --------------------------------------------------------------------------- successful calls


def test_chat_record_fields(gateway: Gateway, calls: dict[str, Call]):
    call = calls["chat_ok"]
    rec = record_of(gateway, call)
    assert rec["endpoint"] == "chat.completions"
    assert rec["key_id"] == "master"
    assert rec["requested_model"] == "fake-chat"
    assert rec["resolved_model"] == "fake-chat"
    assert rec["provider"] == "fake"
    assert rec["model_version"] == call.model == "fake-chat-2024-08-06"
    assert rec["stream"] is False
    assert rec["status"] == 200
    assert rec["outcome"] == "ok"
    assert rec["error_class"] is None
    assert rec["error_message"] is None
    assert rec["finish_reason"] == "stop"
    assert rec["trace_id"] == call.trace_id
    assert_tokens_match_usage(rec, call.usage)
    assert rec["input_tokens"] == fake_prompt_tokens(MSGS)
    assert rec["output_tokens"] == len(fake_echo(MSGS).split())
    assert rec["cost_usd"] == pytest.approx(expected_cost("fake-chat", rec["input_tokens"], rec["output_tokens"]))
    assert isinstance(rec["latency_ms"], (int, float)) and rec["latency_ms"] >= 0
    created = datetime.fromisoformat(rec["created_at"])
    assert created.tzinfo is not None, rec["created_at"]
    started = call.extra["started"]
    assert started - timedelta(seconds=5) <= created <= datetime.now(timezone.utc) + timedelta(seconds=5)


def test_chat_record_bodies(gateway: Gateway, calls: dict[str, Call]):
    call = calls["chat_ok"]
    rec = record_of(gateway, call)
    assert rec["request_body"]["model"] == "fake-chat"
    assert rec["request_body"]["messages"] == MSGS
    assert rec["response_body"] == call.response


def test_traceparent_is_recorded(gateway: Gateway, calls: dict[str, Call]):
    call = calls["traceparent"]
    rec = record_of(gateway, call)
    assert rec["trace_id"] == call.trace_id
    assert rec["parent_span_id"] == call.extra["span"]
    assert isinstance(rec["span_id"], str) and len(rec["span_id"]) == 16, rec["span_id"]
    int(rec["span_id"], 16)
    assert rec["span_id"] != call.extra["span"]


def test_generated_trace_ids_are_distinct(gateway: Gateway, calls: dict[str, Call]):
    """Without trace headers the gateway starts a new trace per request."""
    c = gateway.client()
    ids = []
    for _ in range(2):
        raw = c.chat.completions.with_raw_response.create(model="fake-chat", messages=MSGS)
        ids.append(raw.headers["x-keel-invocation-id"])
    recs = [gateway.wait_record(i) for i in ids]
    traces = [r["trace_id"] for r in recs]
    assert all(isinstance(t, str) and t for t in traces), traces
    assert traces[0] != traces[1]
    assert recs[0]["parent_span_id"] is None


def test_prefixed_model_record(gateway: Gateway, calls: dict[str, Call]):
    rec = record_of(gateway, calls["prefixed"])
    assert rec["requested_model"] == "fake/fake-chat"
    assert rec["resolved_model"] == "fake-chat"
    assert rec["provider"] == "fake"
    assert rec["outcome"] == "ok"


def test_cached_tokens_and_cost(gateway: Gateway, calls: dict[str, Call]):
    call = calls["cached"]
    rec = record_of(gateway, call)
    assert_tokens_match_usage(rec, call.usage)
    assert rec["cached_tokens"] == fake_prompt_tokens(MSGS) // 2 > 0
    assert rec["cost_usd"] == pytest.approx(
        expected_cost("fake-cached", rec["input_tokens"], rec["output_tokens"], rec["cached_tokens"])
    )


def test_stream_record_with_usage(gateway: Gateway, calls: dict[str, Call]):
    call = calls["stream_usage"]
    rec = record_of(gateway, call)
    assert rec["stream"] is True
    assert rec["status"] == 200 and rec["outcome"] == "ok"
    assert_tokens_match_usage(rec, call.usage)
    assert rec["model_version"] == call.model == "fake-chat-2024-08-06"
    assert rec["finish_reason"] == "stop"
    assert rec["cost_usd"] == pytest.approx(expected_cost("fake-chat", rec["input_tokens"], rec["output_tokens"]))
    assert isinstance(rec["ttft_ms"], (int, float)) and 0 <= rec["ttft_ms"] <= rec["latency_ms"]
    body = rec["response_body"]
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == call.content == fake_echo(MSGS)
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["prompt_tokens"] == call.usage["prompt_tokens"]
    assert body["usage"]["completion_tokens"] == call.usage["completion_tokens"]
    assert rec["request_body"]["stream_options"] == {"include_usage": True}


def test_stream_record_without_client_usage(gateway: Gateway, calls: dict[str, Call]):
    """The client did not ask for usage; the record still has the provider's."""
    call = calls["stream_no_usage"]
    assert call.usage is None, "the client did not ask for usage but received it"
    rec = record_of(gateway, call)
    assert rec["token_source"] == "provider"
    assert rec["input_tokens"] == fake_prompt_tokens(MSGS)
    assert rec["output_tokens"] == len(fake_echo(MSGS).split())
    assert rec["cost_usd"] == pytest.approx(expected_cost("fake-chat", rec["input_tokens"], rec["output_tokens"]))
    assert rec["response_body"]["choices"][0]["message"]["content"] == call.content


def test_embeddings_record(gateway: Gateway, calls: dict[str, Call]):
    call = calls["embeddings"]
    rec = record_of(gateway, call)
    assert rec["endpoint"] == "embeddings"
    assert rec["provider"] == "fake" and rec["resolved_model"] == "fake-embed"
    assert rec["stream"] is False and rec["outcome"] == "ok" and rec["status"] == 200
    assert rec["input_tokens"] == call.usage["prompt_tokens"] == 5
    assert not rec["output_tokens"]
    assert rec["token_source"] == "provider"


def test_local_model_record(gateway: Gateway, calls: dict[str, Call]):
    call = calls["local"]
    rec = record_of(gateway, call)
    assert rec["provider"] == "local"
    assert rec["resolved_model"] == LOCAL_MODEL
    assert rec["model_version"] == call.model
    assert rec["outcome"] == "ok"
    assert_tokens_match_usage(rec, call.usage)
    assert rec["input_tokens"] > 0 and rec["output_tokens"] > 0


# --------------------------------------------------------------------------- errors


ERROR_CASES = [
    # name, status, outcome, error_class
    ("unknown_model", 404, "client_error", "unknown_model"),
    ("invalid_request", 400, "client_error", "invalid_request"),
    ("malformed_json", 400, "client_error", "invalid_request"),
    ("body_too_large", 413, "client_error", "body_too_large"),
    ("unauthorized", 401, "client_error", "unauthorized"),
    ("upstream_500", 500, "upstream_error", "upstream_status"),
    ("upstream_429", 429, "upstream_error", "upstream_status"),
    ("upstream_malformed", 502, "upstream_error", "upstream_malformed"),
    ("upstream_connect", 502, "upstream_error", "upstream_connect"),
    ("upstream_timeout", 504, "upstream_error", "upstream_timeout"),
]


@pytest.mark.parametrize("name,status,outcome,error_class", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_error_record(gateway: Gateway, calls: dict[str, Call], name, status, outcome, error_class):
    call = calls[name]
    assert call.extra.get("status") == status, f"client saw {call.extra.get('status')}, expected {status}"
    rec = record_of(gateway, call)
    assert (rec["status"], rec["outcome"], rec["error_class"]) == (status, outcome, error_class)
    assert isinstance(rec["error_message"], str) and rec["error_message"]
    assert rec["endpoint"] == "chat.completions"


def test_unknown_model_record(gateway: Gateway, calls: dict[str, Call]):
    rec = record_of(gateway, calls["unknown_model"])
    assert rec["requested_model"] == "no-such-model"
    assert rec["provider"] is None


def test_unauthorized_record_has_no_key(gateway: Gateway, calls: dict[str, Call]):
    rec = record_of(gateway, calls["unauthorized"])
    assert rec["key_id"] is None
    assert "sk-wrong-key" not in json.dumps(rec), "the rejected key must not be stored"


def test_upstream_error_record_keeps_upstream_message(gateway: Gateway, calls: dict[str, Call], fault_messages):
    rec = record_of(gateway, calls["upstream_500"])
    assert fault_messages["fault-500"] in rec["error_message"]
    assert rec["provider"] == "fake"
    assert rec["model_version"] is None or isinstance(rec["model_version"], str)


def test_timeout_record_latency(gateway: Gateway, calls: dict[str, Call]):
    rec = record_of(gateway, calls["upstream_timeout"])
    assert REQUEST_TIMEOUT_MS * 0.9 <= rec["latency_ms"] <= REQUEST_TIMEOUT_MS + 3000, rec["latency_ms"]


def test_connect_error_record_names_provider(gateway: Gateway, calls: dict[str, Call]):
    rec = record_of(gateway, calls["upstream_connect"])
    assert rec["provider"] == "dead"
    assert rec["resolved_model"] == "dead-model"


def test_stream_cut_record(gateway: Gateway, calls: dict[str, Call]):
    call = calls["stream_cut"]
    rec = record_of(gateway, call)
    assert rec["stream"] is True
    assert rec["status"] == 200, "headers (200) were sent before the cut"
    assert rec["outcome"] == "upstream_error"
    assert rec["error_class"] == "stream_cut"
    # What did arrive is kept.
    assert call.content and rec["response_body"]["choices"][0]["message"]["content"] == call.content


def test_client_disconnect_record(gateway: Gateway, calls: dict[str, Call]):
    call = calls["client_disconnected"]
    assert call.extra.get("status") == 200
    assert len(call.extra.get("events", [])) == 3
    rec = record_of(gateway, call, timeout=20)
    assert rec["status"] == 499
    assert rec["outcome"] == "client_disconnected"
    assert rec["stream"] is True
    # The gateway kept reading the upstream to its usage chunk.
    assert rec["token_source"] == "provider"
    assert rec["output_tokens"] == LONG_STREAM_WORDS
    assert rec["input_tokens"] == fake_prompt_tokens(MSGS)


@pytest.mark.parametrize("name", ["no_usage", "stream_no_usage_upstream"])
def test_missing_upstream_usage_is_estimated(gateway: Gateway, calls: dict[str, Call], name: str):
    call = calls[name]
    rec = record_of(gateway, call)
    assert rec["outcome"] == "ok"
    assert rec["token_source"] == "estimated"
    assert rec["input_tokens"] > 0 and rec["output_tokens"] > 0
    if name == "no_usage":
        assert call.usage is None, "the upstream sent no usage; the gateway must not invent it for the client"


# --------------------------------------------------------------------------- keel logs filters


def test_logs_filter_by_model(gateway: Gateway, calls: dict[str, Call]):
    record_of(gateway, calls["cached"])
    recs = gateway.logs("--model", "fake-cached", "--limit", "1000")
    assert recs and {r["resolved_model"] for r in recs} == {"fake-cached"}
    assert calls["cached"].inv() in [r["id"] for r in recs]


def test_logs_filter_by_status(gateway: Gateway, calls: dict[str, Call]):
    for name in ("upstream_429", "chat_ok", "upstream_500"):
        record_of(gateway, calls[name])
    by_code = gateway.logs("--status", "429", "--limit", "1000")
    assert by_code and {r["status"] for r in by_code} == {429}
    assert calls["upstream_429"].inv() in [r["id"] for r in by_code]
    errors = gateway.logs("--status", "error", "--limit", "1000")
    error_ids = {r["id"] for r in errors}
    assert calls["upstream_500"].inv() in error_ids and calls["upstream_429"].inv() in error_ids
    assert calls["chat_ok"].inv() not in error_ids
    assert all(r["outcome"] != "ok" for r in errors)
    oks = gateway.logs("--status", "ok", "--limit", "1000")
    assert calls["chat_ok"].inv() in {r["id"] for r in oks}
    assert all(r["outcome"] == "ok" for r in oks)


def test_logs_filter_by_key(gateway: Gateway, calls: dict[str, Call]):
    for name in ("chat_ok", "unauthorized"):
        record_of(gateway, calls[name])
    recs = gateway.logs("--key", "master", "--limit", "1000")
    ids = {r["id"] for r in recs}
    assert calls["chat_ok"].inv() in ids and calls["unauthorized"].inv() not in ids
    assert {r["key_id"] for r in recs} == {"master"}


def test_logs_limit_and_time_window(gateway: Gateway, calls: dict[str, Call]):
    record_of(gateway, calls["chat_ok"])
    assert len(gateway.logs("--limit", "1")) == 1
    assert len(gateway.logs("--limit", "3")) == 3
    assert gateway.logs("--since", "1h", "--limit", "1000"), "--since 1h lists recent records"
    before = (calls["chat_ok"].extra["started"] - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert gateway.logs("--until", before) == [], "--until before every call lists nothing"
    future = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert gateway.logs("--since", future) == []


def test_logs_trace_filter_is_exact(gateway: Gateway, calls: dict[str, Call]):
    record_of(gateway, calls["chat_ok"])
    assert gateway.logs("--trace", new_trace_id()) == []


def test_records_flushed_quickly(gateway: Gateway):
    """Batched durability flushes within a second or so: a fresh call is listed soon."""
    c = gateway.client()
    raw = c.chat.completions.with_raw_response.create(model="fake-chat", messages=MSGS)
    inv = raw.headers["x-keel-invocation-id"]
    t0 = time.monotonic()
    gateway.wait_record(inv, timeout=3)
    assert time.monotonic() - t0 < 3


# --------------------------------------------------------------------------- shutdown


@pytest.mark.parametrize("durability", ["batched", "sync"])
def test_sigterm_drains_in_flight_stream(tmp_path, fake: FakeUpstream, durability: str):
    """SIGTERM while a stream is in flight: the stream still completes, the
    process exits 0 and the call's record is stored."""
    config = f"""\
[store]
durability = "{durability}"

[[providers]]
name = "fake"
base_url = "{fake.url}"
api_key = "env:FAKE_UPSTREAM_KEY"
models = ["fake-chat", "fault-slow-stream"]
"""
    gw = Gateway(tmp_path, config, {"FAKE_UPSTREAM_KEY": FAKE_UPSTREAM_KEY})
    try:
        words = " ".join(f"d{i}" for i in range(40))  # ~45 events, 20 ms apart
        s = open_sse(
            gw, {"model": "fault-slow-stream", "messages": [{"role": "user", "content": words}], "stream": True}
        )
        try:
            assert s.status == 200
            inv = s.headers["x-keel-invocation-id"]
            events = s.iter_data()
            first = next(events)
            gw.proc.send_signal(signal.SIGTERM)
            rest = list(events)
        finally:
            s.close()
        assert rest and rest[-1] == "[DONE]", f"the in-flight stream was not completed: {rest[-2:]}"
        text = "".join(
            (c["choices"][0]["delta"].get("content") or "")
            for c in map(json.loads, [first, *rest[:-1]])
            if c.get("choices")
        )
        assert text == f"Echo: {words}"
        rc = gw.proc.wait(timeout=20)
        assert rc == 0, f"keel serve exited {rc} after SIGTERM"
    finally:
        rc = gw.stop()
    recs = gw.logs()
    assert [r["id"] for r in recs] == [inv], "the drained call must be stored before exit"
    assert (recs[0]["outcome"], recs[0]["status"], recs[0]["output_tokens"]) == ("ok", 200, 41)
