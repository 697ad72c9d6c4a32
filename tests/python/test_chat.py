"""Chat completions through Keel with the official OpenAI SDK.

Two upstreams: the real local model (llama.cpp serving SmolLM2-135M-Instruct,
provider `local`, models discovered) for what a real server does, and the
fake upstream (provider `fake`) for what a small model cannot do reliably
(tool calls, exact structured output) and to inspect what Keel forwarded.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from pydantic import BaseModel

from support import (
    FAKE_UPSTREAM_KEY,
    LOCAL_MODEL,
    FakeUpstream,
    Gateway,
    assert_invocation_id,
    header_value,
    new_trace_id,
)

ASK = [{"role": "user", "content": "Name three colors."}]


def collect(stream) -> tuple[list, str]:
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return chunks, text


# =========================================================================== real local model


def test_local_chat(client: openai.OpenAI):
    raw = client.chat.completions.with_raw_response.create(
        model=LOCAL_MODEL, messages=ASK, max_tokens=16, temperature=0
    )
    assert_invocation_id(raw.headers.get("x-keel-invocation-id"))
    r = raw.parse()
    assert r.object == "chat.completion"
    assert r.model == LOCAL_MODEL
    assert len(r.choices) == 1
    msg = r.choices[0].message
    assert msg.role == "assistant"
    assert isinstance(msg.content, str) and msg.content.strip()
    assert r.choices[0].finish_reason in ("stop", "length")
    assert r.usage is not None
    assert r.usage.prompt_tokens > 0 and 0 < r.usage.completion_tokens <= 16
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_local_model_reachable_with_provider_prefix(client: openai.OpenAI):
    kw = dict(messages=ASK, max_tokens=12, temperature=0)
    bare = client.chat.completions.create(model=LOCAL_MODEL, **kw)
    prefixed = client.chat.completions.create(model=f"local/{LOCAL_MODEL}", **kw)
    assert prefixed.choices[0].message.content == bare.choices[0].message.content
    assert prefixed.usage.completion_tokens == bare.usage.completion_tokens


def test_local_stream_with_usage(client: openai.OpenAI):
    kw = dict(model=LOCAL_MODEL, messages=ASK, max_tokens=12, temperature=0)
    reference = client.chat.completions.create(**kw)
    stream = client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kw)
    assert_invocation_id(stream.response.headers.get("x-keel-invocation-id"))
    assert stream.response.headers.get("content-type", "").startswith("text/event-stream")
    chunks, text = collect(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    with_usage = [c for c in chunks if c.usage is not None]
    assert len(with_usage) == 1, f"expected exactly one usage chunk, got {len(with_usage)}"
    assert with_usage[0] is chunks[-1], "the usage chunk comes last"
    assert with_usage[0].choices == []
    usage = with_usage[0].usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    # Same request, same (greedy) answer: the stream carries the same tokens.
    assert text == reference.choices[0].message.content
    assert usage.prompt_tokens == reference.usage.prompt_tokens
    assert usage.completion_tokens == reference.usage.completion_tokens
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [reference.choices[0].finish_reason]


def test_local_stream_without_usage_still_recorded(gateway: Gateway, client: openai.OpenAI):
    kw = dict(model=LOCAL_MODEL, messages=ASK, max_tokens=12, temperature=0)
    reference = client.chat.completions.create(**kw)
    trace = new_trace_id()
    stream = client.chat.completions.create(stream=True, extra_headers={"x-keel-trace-id": trace}, **kw)
    chunks, text = collect(stream)
    assert chunks, "empty stream"
    assert [c for c in chunks if c.usage is not None] == [], "usage was not asked for but a chunk carries it"
    assert all(c.choices for c in chunks), "a chunk without choices reached the client (hidden usage chunk?)"
    assert text == reference.choices[0].message.content
    (rec,) = gateway.wait_trace(trace)
    assert rec["token_source"] == "provider"
    assert rec["input_tokens"] == reference.usage.prompt_tokens
    assert rec["output_tokens"] == reference.usage.completion_tokens


def test_local_n2(client: openai.OpenAI):
    r = client.chat.completions.create(model=LOCAL_MODEL, messages=ASK, max_tokens=8, n=2, temperature=0.9)
    assert sorted(c.index for c in r.choices) == [0, 1]
    for c in r.choices:
        assert isinstance(c.message.content, str) and c.message.content.strip()


def test_local_stop(client: openai.OpenAI):
    kw = dict(model=LOCAL_MODEL, messages=ASK, max_tokens=24, temperature=0)
    full = client.chat.completions.create(**kw).choices[0].message.content
    words = full.split()
    assert len(words) >= 3, f"reference answer too short to test stop: {full!r}"
    stop = words[len(words) // 2]
    expected = full[: full.index(stop)]
    r = client.chat.completions.create(stop=[stop], **kw)
    assert r.choices[0].finish_reason == "stop"
    assert stop not in r.choices[0].message.content
    assert r.choices[0].message.content.rstrip() == expected.rstrip()


def test_local_seed(client: openai.OpenAI):
    kw = dict(model=LOCAL_MODEL, messages=ASK, max_tokens=16, temperature=1.0, seed=1234)
    a = client.chat.completions.create(**kw).choices[0].message.content
    b = client.chat.completions.create(**kw).choices[0].message.content
    assert a == b, "same seed at temperature 1 must give the same sample"


def test_local_logprobs(client: openai.OpenAI):
    r = client.chat.completions.create(
        model=LOCAL_MODEL, messages=ASK, max_tokens=4, logprobs=True, top_logprobs=2, temperature=0
    )
    lp = r.choices[0].logprobs
    assert lp is not None and lp.content, "logprobs were asked for"
    assert len(lp.content) == r.usage.completion_tokens
    for tok in lp.content:
        assert tok.logprob <= 0
        assert len(tok.top_logprobs) == 2
    assert "".join(t.token for t in lp.content) == r.choices[0].message.content


def test_local_temperature_and_top_p(client: openai.OpenAI):
    kw = dict(model=LOCAL_MODEL, messages=ASK, max_tokens=12, temperature=0, top_p=0.5)
    a = client.chat.completions.create(**kw).choices[0].message.content
    b = client.chat.completions.create(**kw).choices[0].message.content
    assert a == b, "temperature 0 is greedy: answers must be identical"


class ColorCount(BaseModel):
    color: str
    count: int


COLOR_SCHEMA = {
    "type": "object",
    "properties": {"color": {"type": "string"}, "count": {"type": "integer"}},
    "required": ["color", "count"],
    "additionalProperties": False,
}


def test_local_json_schema(client: openai.OpenAI):
    r = client.chat.completions.create(
        model=LOCAL_MODEL,
        messages=[{"role": "user", "content": "Give a color and a count as JSON."}],
        max_tokens=64,
        temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "cc", "schema": COLOR_SCHEMA, "strict": True}},
    )
    data = json.loads(r.choices[0].message.content)
    assert set(data) == {"color", "count"}
    assert isinstance(data["color"], str) and isinstance(data["count"], int)


def test_local_structured_output_with_sdk_parse(client: openai.OpenAI):
    r = client.chat.completions.parse(
        model=LOCAL_MODEL,
        messages=[{"role": "user", "content": "Give a color and a count as JSON."}],
        max_tokens=64,
        temperature=0,
        response_format=ColorCount,
    )
    parsed = r.choices[0].message.parsed
    assert isinstance(parsed, ColorCount)


# =========================================================================== fake upstream

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "strict": True,
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
            "additionalProperties": False,
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Local time in a timezone",
        "strict": True,
        "parameters": {
            "type": "object",
            "properties": {"tz": {"type": "string"}},
            "required": ["tz"],
            "additionalProperties": False,
        },
    },
}
TOOL_ARGS = {"get_weather": {"city": "fake", "days": 0}, "get_time": {"tz": "fake"}}


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_fake_echo(client: openai.OpenAI):
    r = client.chat.completions.create(model="fake-chat", messages=user("hello   brave new world"))
    assert r.choices[0].message.content == "Echo: hello brave new world"
    assert r.model == "fake-chat-2024-08-06"
    assert r.usage.prompt_tokens == 4 + 3 and r.usage.completion_tokens == 5


def test_tool_choice_named(client: openai.OpenAI):
    r = client.chat.completions.create(
        model="fake-chat",
        messages=user("what time is it"),
        tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert [c.function.name for c in calls] == ["get_time"]
    assert json.loads(calls[0].function.arguments) == TOOL_ARGS["get_time"]
    assert calls[0].id and calls[0].type == "function"


@pytest.mark.parametrize("tool_choice", ["auto", "required"])
def test_tool_choice_auto_and_required(client: openai.OpenAI, tool_choice: str):
    r = client.chat.completions.create(
        model="fake-chat", messages=user("weather in Paris"), tools=[WEATHER], tool_choice=tool_choice
    )
    calls = r.choices[0].message.tool_calls
    assert r.choices[0].finish_reason == "tool_calls"
    assert [c.function.name for c in calls] == ["get_weather"]
    assert json.loads(calls[0].function.arguments) == TOOL_ARGS["get_weather"]


def test_tool_choice_none_answers_text(client: openai.OpenAI):
    r = client.chat.completions.create(
        model="fake-chat", messages=user("just talk"), tools=[WEATHER], tool_choice="none"
    )
    assert r.choices[0].message.tool_calls is None
    assert r.choices[0].message.content == "Echo: just talk"


def test_parallel_tool_calls(client: openai.OpenAI):
    r = client.chat.completions.create(model="fake-chat", messages=user("both please"), tools=[WEATHER, TIME])
    calls = r.choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert len({c.id for c in calls}) == 2
    for c in calls:
        assert json.loads(c.function.arguments) == TOOL_ARGS[c.function.name]
    single = client.chat.completions.create(
        model="fake-chat", messages=user("one please"), tools=[WEATHER, TIME], parallel_tool_calls=False
    )
    assert [c.function.name for c in single.choices[0].message.tool_calls] == ["get_weather"]


def test_tool_results_round_trip(client: openai.OpenAI, fake: FakeUpstream):
    first = client.chat.completions.create(model="fake-chat", messages=user("weather in Oslo"), tools=[WEATHER])
    call = first.choices[0].message.tool_calls[0]
    marker = "marker-tool-result-5b2d"
    messages = [
        {"role": "user", "content": "weather in Oslo"},
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temp_c": 3})},
        {"role": "user", "content": f"thanks {marker}"},
    ]
    r = client.chat.completions.create(model="fake-chat", messages=messages, tools=[WEATHER], tool_choice="none")
    assert r.choices[0].message.content == f"Echo: thanks {marker}"
    forwarded = fake.wait_request(marker)["body"]
    assert forwarded["messages"] == json.loads(json.dumps(messages))


def test_streamed_tool_calls_with_sdk_stream_helper(client: openai.OpenAI):
    with client.chat.completions.stream(
        model="fake-chat", messages=user("weather and time"), tools=[WEATHER, TIME]
    ) as stream:
        events = list(stream)
        final = stream.get_final_completion()
    done = [e for e in events if e.type == "tool_calls.function.arguments.done"]
    assert [(e.index, e.name) for e in done] == [(0, "get_weather"), (1, "get_time")]
    for e in done:
        assert e.parsed_arguments == TOOL_ARGS[e.name]
    assert any(e.type == "tool_calls.function.arguments.delta" for e in events)
    msg = final.choices[0].message
    assert final.choices[0].finish_reason == "tool_calls"
    assert [c.function.name for c in msg.tool_calls] == ["get_weather", "get_time"]
    assert [c.function.parsed_arguments for c in msg.tool_calls] == [TOOL_ARGS["get_weather"], TOOL_ARGS["get_time"]]


def test_streamed_text_with_sdk_stream_helper(client: openai.OpenAI):
    with client.chat.completions.stream(
        model="fake-chat", messages=user("one two three four"), stream_options={"include_usage": True}
    ) as stream:
        deltas = [e.delta for e in stream if e.type == "content.delta" and e.delta]
        final = stream.get_final_completion()
    assert len(deltas) == 5, deltas
    assert "".join(deltas) == final.choices[0].message.content == "Echo: one two three four"
    assert final.usage.completion_tokens == 5


def test_json_object(client: openai.OpenAI):
    r = client.chat.completions.create(
        model="fake-chat", messages=user("alpha  beta"), response_format={"type": "json_object"}
    )
    assert json.loads(r.choices[0].message.content) == {"echo": "alpha beta"}


def test_json_schema_with_sdk_parse(client: openai.OpenAI):
    r = client.chat.completions.parse(model="fake-chat", messages=user("count colors"), response_format=ColorCount)
    assert r.choices[0].message.parsed == ColorCount(color="fake", count=0)


def test_fake_n_stop_max_tokens_logprobs_seed(client: openai.OpenAI):
    r = client.chat.completions.create(model="fake-chat", messages=user("a b c d"), n=3)
    assert [c.message.content for c in r.choices] == ["Echo: a b c d"] * 3
    assert r.usage.completion_tokens == 15
    r = client.chat.completions.create(model="fake-chat", messages=user("red green blue"), stop=[" blue"])
    assert (r.choices[0].message.content, r.choices[0].finish_reason) == ("Echo: red green", "stop")
    r = client.chat.completions.create(model="fake-chat", messages=user("red green blue"), max_tokens=2)
    assert (r.choices[0].message.content, r.choices[0].finish_reason) == ("Echo: red", "length")
    r = client.chat.completions.create(model="fake-chat", messages=user("x y"), logprobs=True, top_logprobs=3)
    assert [t.token for t in r.choices[0].logprobs.content] == ["Echo:", " x", " y"]
    assert all(len(t.top_logprobs) == 3 for t in r.choices[0].logprobs.content)
    r = client.chat.completions.create(model="fake-chat", messages=user("x"), seed=7)
    assert r.system_fingerprint == "fp_seed_7"


def test_fake_stream_n2(client: openai.OpenAI):
    chunks = list(client.chat.completions.create(model="fake-chat", messages=user("p q"), n=2, stream=True))
    texts = {0: "", 1: ""}
    for c in chunks:
        for ch in c.choices:
            texts[ch.index] += ch.delta.content or ""
    assert texts == {0: "Echo: p q", 1: "Echo: p q"}


def test_unknown_fields_pass_through_untouched(client: openai.OpenAI, fake: FakeUpstream):
    marker = "marker-passthrough-c41a"
    extra = {
        "x_custom": {"a": [1, 2], "nested": {"b": None, "c": 1.5}},
        "metadata": {"team": "search", "ticket": "42"},
    }
    r = client.chat.completions.create(
        model="fake-chat",
        messages=user(marker),
        temperature=0.3,
        top_p=0.9,
        seed=11,
        user="end-user-1",
        logit_bias={"50256": -100},
        presence_penalty=0.25,
        extra_body=extra,
    )
    assert r.choices[0].message.content == f"Echo: {marker}"
    body = fake.wait_request(marker)["body"]
    assert body["x_custom"] == extra["x_custom"]
    assert body["metadata"] == extra["metadata"]
    sent = {
        "model": "fake-chat",
        "messages": user(marker),
        "temperature": 0.3,
        "top_p": 0.9,
        "seed": 11,
        "user": "end-user-1",
        "logit_bias": {"50256": -100},
        "presence_penalty": 0.25,
        **extra,
    }
    assert body == sent, "a non-streamed request must reach the upstream exactly as sent"


def test_provider_prefixed_model_name(client: openai.OpenAI, fake: FakeUpstream):
    marker = "marker-prefix-77e0"
    r = client.chat.completions.create(model="fake/fake-chat", messages=user(marker))
    assert r.choices[0].message.content == f"Echo: {marker}"
    assert r.model == "fake-chat-2024-08-06"
    req = fake.wait_request(marker)
    assert req["path"] == "/v1/chat/completions"
    assert req["body"]["model"] == "fake-chat", "the upstream must receive the bare model name"
    assert header_value(req["headers"], "authorization") == f"Bearer {FAKE_UPSTREAM_KEY}"


def test_stream_asks_upstream_for_usage_but_hides_it(client: openai.OpenAI, fake: FakeUpstream):
    marker = "marker-hidden-usage-18c3"
    chunks, text = collect(client.chat.completions.create(model="fake-chat", messages=user(marker), stream=True))
    assert text == f"Echo: {marker}"
    assert [c for c in chunks if c.usage is not None] == []
    assert all(c.choices for c in chunks), "the usage-only chunk must not reach the client"
    body = fake.wait_request(marker)["body"]
    assert body["stream"] is True
    assert body.get("stream_options", {}).get("include_usage") is True


def test_stream_with_usage_passes_usage_chunk(client: openai.OpenAI):
    chunks, text = collect(
        client.chat.completions.create(
            model="fake-chat", messages=user("u v w"), stream=True, stream_options={"include_usage": True}
        )
    )
    assert text == "Echo: u v w"
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1 and usage_chunks[0] is chunks[-1] and chunks[-1].choices == []
    assert (usage_chunks[0].usage.prompt_tokens, usage_chunks[0].usage.completion_tokens) == (6, 4)


def test_stream_arrives_incrementally(client: openai.OpenAI):
    """fault-slow-stream spaces events 20 ms apart: a gateway that passes
    chunks through as they arrive delivers them spread out in time."""
    words = " ".join(f"w{i}" for i in range(40))
    stream = client.chat.completions.create(model="fault-slow-stream", messages=user(words), stream=True)
    arrivals = []
    text = ""
    for c in stream:
        if c.choices and c.choices[0].delta.content:
            arrivals.append(time.monotonic())
            text += c.choices[0].delta.content
    assert text == f"Echo: {words}"
    spread = arrivals[-1] - arrivals[0]
    assert spread >= 0.4, f"content chunks arrived within {spread * 1000:.0f} ms: the stream was buffered"


def test_content_parts_messages(client: openai.OpenAI, fake: FakeUpstream):
    marker = "marker-parts-0d9e"
    messages = [{"role": "user", "content": [{"type": "text", "text": "part one"}, {"type": "text", "text": marker}]}]
    r = client.chat.completions.create(model="fake-chat", messages=messages)
    assert r.choices[0].message.content == f"Echo: part one {marker}"
    assert fake.wait_request(marker)["body"]["messages"] == messages


def test_long_stream_arrives_whole(gateway: Gateway, client: openai.OpenAI):
    """500 chunks pass through complete and in order; the record counts them."""
    trace = new_trace_id()
    stream = client.chat.completions.create(
        model="fault-long-stream", messages=user("go"), stream=True, extra_headers={"x-keel-trace-id": trace}
    )
    chunks, text = collect(stream)
    assert text == " ".join(f"w{i}" for i in range(500))
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    (rec,) = gateway.wait_trace(trace)
    assert (rec["output_tokens"], rec["token_source"], rec["outcome"]) == (500, "provider", "ok")


def test_concurrent_requests_do_not_mix(gateway: Gateway, client: openai.OpenAI):
    """Interleaved streamed and unary calls each get their own answer and record."""

    def one(i: int) -> tuple[str, str, str]:
        trace = new_trace_id()
        words = " ".join(f"c{i}x{k}" for k in range(i + 1))
        headers = {"x-keel-trace-id": trace}
        if i % 2:
            stream = client.chat.completions.create(
                model="fault-slow-stream", messages=user(words), stream=True, extra_headers=headers
            )
            _, text = collect(stream)
        else:
            text = (
                client.chat.completions.create(model="fake-chat", messages=user(words), extra_headers=headers)
                .choices[0]
                .message.content
            )
        return trace, words, text

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(8)))
    for trace, words, text in results:
        assert text == f"Echo: {words}"
        (rec,) = gateway.wait_trace(trace)
        assert rec["input_tokens"] == len(words.split()) + 3
        assert rec["output_tokens"] == len(words.split()) + 1
        assert gateway.show(rec["id"])["response_body"]["choices"][0]["message"]["content"] == text
