"""Every front door against every provider format: the official `openai` and
`anthropic` SDKs, each calling models of the OpenAI-compatible fake (`fake`)
and of the fake's native vendor APIs (see NATIVE_PROVIDERS), plain and
streamed, with tools, and with each SDK's typed errors.

Every fake answers by the same rules, so one expectation serves all of
them: the text is "Echo: <words of the last user message>", a tool call goes
to the first (or the named) tool with arguments built from its schema, and
the answer's output tokens are its words (10 per tool call).
"""

from __future__ import annotations

import json

import anthropic
import openai
import pytest

from support import (
    CONTAINER_CREDENTIALS_PROVIDER,
    NATIVE_PROVIDERS,
    SENDS_RETRY_AFTER,
    FakeUpstream,
    Gateway,
    assert_invocation_id,
)

PROVIDERS = ["fake", *NATIVE_PROVIDERS]

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
OPENAI_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": WEATHER_TOOL["name"],
            "description": WEATHER_TOOL["description"],
            "parameters": WEATHER_TOOL["schema"],
        },
    }
]
ANTHROPIC_TOOLS = [
    {"name": WEATHER_TOOL["name"], "description": WEATHER_TOOL["description"], "input_schema": WEATHER_TOOL["schema"]}
]


@pytest.fixture(scope="module")
def oa(gateway: Gateway):
    c = gateway.client()
    yield c
    c.close()


@pytest.fixture(scope="module")
def claude(gateway: Gateway):
    c = anthropic.Anthropic(base_url=gateway.base, api_key=gateway.master_key, max_retries=0)
    yield c
    c.close()


def model(provider: str, name: str = "fake-chat") -> str:
    return f"{provider}/{name}"


# --------------------------------------------------------------------------- OpenAI SDK


@pytest.mark.parametrize("provider", PROVIDERS)
def test_openai_sdk_answer(gateway: Gateway, oa: openai.OpenAI, provider: str):
    raw = oa.chat.completions.with_raw_response.create(
        model=model(provider),
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": f"hello from openai to {provider}"},
        ],
    )
    r = raw.parse()
    assert r.object == "chat.completion"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == f"Echo: hello from openai to {provider}"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.completion_tokens == 6
    assert r.usage.prompt_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    record = gateway.wait_record(assert_invocation_id(raw.headers.get("x-keel-invocation-id")))
    assert record["provider"] == provider
    assert record["token_source"] == "provider"
    assert (record["input_tokens"], record["output_tokens"]) == (r.usage.prompt_tokens, 6)
    assert isinstance(record["raw_usage"], dict) and record["raw_usage"], "the provider's own usage is kept"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_openai_sdk_stream(oa: openai.OpenAI, provider: str):
    stream = oa.chat.completions.create(
        model=model(provider),
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "one two three"}],
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: one two three"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4


@pytest.mark.parametrize("provider", PROVIDERS)
def test_openai_sdk_tool_round_trip(fake: FakeUpstream, oa: openai.OpenAI, provider: str):
    marker = f"weather-marker-openai-{provider}"
    messages = [{"role": "user", "content": f"weather in Paris {marker}"}]
    first = oa.chat.completions.create(model=model(provider), tools=OPENAI_TOOLS, messages=messages)
    assert first.choices[0].finish_reason == "tool_calls"
    call = first.choices[0].message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments)["city"], str)
    assert call.id
    # Bedrock cannot be told not to call listed tools (a documented 400,
    # tested below); there the model may call the tool again.
    no_more_calls = {} if provider == "bedrock" else {"tool_choice": "none"}
    second = oa.chat.completions.create(
        model=model(provider),
        tools=OPENAI_TOOLS,
        **no_more_calls,
        messages=[
            *messages,
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        ],
    )
    assert second.choices[0].finish_reason == ("stop" if no_more_calls else "tool_calls")
    sent = [r for r in fake.requests_for(marker) if "sunny" in json.dumps(r["body"])]
    assert len(sent) == 1
    assert json.dumps(sent[0]["body"]).count(call.id) >= 2, "the call's id reaches the provider with its result"


def test_bedrock_refuses_to_forbid_tools_it_must_list(oa: openai.OpenAI):
    with pytest.raises(openai.BadRequestError) as refused:
        oa.chat.completions.create(
            model=model("bedrock"),
            tools=OPENAI_TOOLS,
            tool_choice="none",
            messages=[
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "tool_calls": [
                    {"id": "t1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "t1", "content": "sunny"},
            ],
        )
    assert "tool_choice" in refused.value.message


@pytest.mark.parametrize("provider", PROVIDERS)
def test_openai_sdk_streamed_tool_call(oa: openai.OpenAI, provider: str):
    stream = oa.chat.completions.create(
        model=model(provider),
        stream=True,
        tools=OPENAI_TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        messages=[{"role": "user", "content": "weather in Oslo"}],
    )
    ids, names, args, finish = set(), set(), "", None
    for chunk in stream:
        if not chunk.choices:
            continue
        for tc in chunk.choices[0].delta.tool_calls or []:
            ids.add(tc.id) if tc.id else None
            names.add(tc.function.name) if tc.function and tc.function.name else None
            args += tc.function.arguments or "" if tc.function else ""
        finish = chunk.choices[0].finish_reason or finish
    assert len(ids) == 1 and names == {"get_weather"}
    assert isinstance(json.loads(args)["city"], str)
    assert finish == "tool_calls"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_openai_sdk_typed_errors(oa: openai.OpenAI, provider: str):
    user = [{"role": "user", "content": "x"}]
    with pytest.raises(openai.RateLimitError) as rate:
        oa.chat.completions.create(model=model(provider, "fault-429"), messages=user)
    if provider in SENDS_RETRY_AFTER:
        assert rate.value.response.headers.get("retry-after") == "7"
    with pytest.raises(openai.InternalServerError):
        oa.chat.completions.create(model=model(provider, "fault-500"), messages=user)
    with pytest.raises(openai.BadRequestError):
        oa.chat.completions.create(model=model(provider, "fault-400"), messages=user)
    with pytest.raises(openai.APIStatusError) as cut:
        oa.chat.completions.create(model=model(provider, "fault-cut"), messages=user)
    assert cut.value.status_code == 502
    with pytest.raises(openai.NotFoundError):
        oa.chat.completions.create(model=model(provider, "no-such-model"), messages=user)


# --------------------------------------------------------------------------- Anthropic SDK


@pytest.mark.parametrize("provider", PROVIDERS)
def test_anthropic_sdk_answer(gateway: Gateway, claude: anthropic.Anthropic, provider: str):
    raw = claude.messages.with_raw_response.create(
        model=model(provider),
        max_tokens=64,
        system="be brief",
        messages=[{"role": "user", "content": f"hello from anthropic to {provider}"}],
    )
    msg = raw.parse()
    assert msg.type == "message" and msg.role == "assistant"
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == f"Echo: hello from anthropic to {provider}"
    assert msg.stop_reason == "end_turn"
    assert msg.usage.output_tokens == 6 and msg.usage.input_tokens > 0
    record = gateway.wait_record(assert_invocation_id(raw.headers.get("x-keel-invocation-id")))
    assert record["provider"] == provider and record["endpoint"] == "messages"
    assert record["output_tokens"] == 6


@pytest.mark.parametrize("provider", PROVIDERS)
def test_anthropic_sdk_stream(claude: anthropic.Anthropic, provider: str):
    with claude.messages.stream(
        model=model(provider), max_tokens=64, messages=[{"role": "user", "content": "one two three"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Echo: one two three"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 4


@pytest.mark.parametrize("provider", PROVIDERS)
def test_anthropic_sdk_tool_round_trip(fake: FakeUpstream, claude: anthropic.Anthropic, provider: str):
    marker = f"weather-marker-anthropic-{provider}"
    messages = [{"role": "user", "content": f"weather in Paris {marker}"}]
    first = claude.messages.create(
        model=model(provider),
        max_tokens=64,
        tools=ANTHROPIC_TOOLS,
        tool_choice={"type": "tool", "name": "get_weather"},
        messages=messages,
    )
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    assert call.name == "get_weather" and isinstance(call.input["city"], str)
    no_more_calls = {} if provider == "bedrock" else {"tool_choice": {"type": "none"}}
    second = claude.messages.create(
        model=model(provider),
        max_tokens=64,
        tools=ANTHROPIC_TOOLS,
        **no_more_calls,
        messages=[
            *messages,
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}]},
        ],
    )
    assert second.stop_reason == ("end_turn" if no_more_calls else "tool_use")
    sent = [r for r in fake.requests_for(marker) if "sunny" in json.dumps(r["body"])]
    assert len(sent) == 1
    assert json.dumps(sent[0]["body"]).count(call.id) >= 2, "the call's id reaches the provider with its result"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_anthropic_sdk_streamed_tool_call(claude: anthropic.Anthropic, provider: str):
    with claude.messages.stream(
        model=model(provider),
        max_tokens=64,
        tools=ANTHROPIC_TOOLS,
        tool_choice={"type": "tool", "name": "get_weather"},
        messages=[{"role": "user", "content": "weather in Oslo"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    call = next(b for b in final.content if b.type == "tool_use")
    assert call.name == "get_weather" and isinstance(call.input["city"], str)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_anthropic_sdk_typed_errors(claude: anthropic.Anthropic, provider: str):
    user = [{"role": "user", "content": "x"}]
    with pytest.raises(anthropic.RateLimitError) as rate:
        claude.messages.create(model=model(provider, "fault-429"), max_tokens=8, messages=user)
    if provider in SENDS_RETRY_AFTER:
        assert rate.value.response.headers.get("retry-after") == "7"
    with pytest.raises(anthropic.InternalServerError):
        claude.messages.create(model=model(provider, "fault-500"), max_tokens=8, messages=user)
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.create(model=model(provider, "fault-400"), max_tokens=8, messages=user)
    with pytest.raises(anthropic.APIStatusError) as cut:
        claude.messages.create(model=model(provider, "fault-cut"), max_tokens=8, messages=user)
    assert cut.value.status_code == 502
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.create(model=model(provider, "no-such-model"), max_tokens=8, messages=user)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_anthropic_sdk_count_tokens(claude: anthropic.Anthropic, provider: str):
    counted = claude.messages.count_tokens(
        model=model(provider), system="be brief", messages=[{"role": "user", "content": "hello over there"}]
    )
    # Anthropic and Gemini count themselves (the fakes' prompt rules); the
    # others are estimated with the tokenizer.
    exact = {"claude": 8, "gemini": 11}
    if provider in exact:
        assert counted.input_tokens == exact[provider]
    else:
        assert counted.input_tokens > 0


# --------------------------------------------------------------------------- same format, no translation


def test_anthropic_sdk_thinking_and_betas_reach_claude_unchanged(fake: FakeUpstream, claude: anthropic.Anthropic):
    marker = "thinking-marker"
    with claude.messages.stream(
        model=model("claude"),
        max_tokens=64,
        thinking={"type": "enabled", "budget_tokens": 1024},
        extra_body={"top_k": 5},
        extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"},
        messages=[{"role": "user", "content": f"think about {marker}"}],
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking and final.content[0].signature
    assert final.content[1].text == f"Echo: think about {marker}"
    sent = fake.wait_request(marker)
    assert sent["path"] == "/v1/messages"
    assert sent["headers"]["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert sent["headers"]["x-api-key"] == "anthropic-test-key", "Keel's provider key, not the client's"
    assert sent["body"]["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert sent["body"]["top_k"] == 5


@pytest.mark.parametrize("provider", [p for p in PROVIDERS if p != "claude"])
def test_thinking_becomes_reasoning_effort_or_is_refused(
    fake: FakeUpstream, claude: anthropic.Anthropic, provider: str
):
    marker = f"thinking-effort-marker-{provider}"
    ask = dict(
        model=model(provider),
        max_tokens=64,
        thinking={"type": "enabled", "budget_tokens": 8192},
        messages=[{"role": "user", "content": marker}],
    )
    if provider != "fake":
        # Gemini and Bedrock take no reasoning_effort: a clear 400.
        with pytest.raises(anthropic.BadRequestError) as refused:
            claude.messages.create(**ask)
        assert "reasoning_effort" in refused.value.message
        return
    claude.messages.create(**ask)
    assert fake.wait_request(marker)["body"]["reasoning_effort"] == "medium"


# Where an Anthropic client's top_k lands in each provider's request.
TOP_K_FIELD = {
    "claude": ("top_k",),
    "gemini": ("generationConfig", "topK"),
    "bedrock": ("additionalModelRequestFields", "top_k"),
}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_anthropic_sdk_top_k_reaches_providers_that_have_it(
    fake: FakeUpstream, claude: anthropic.Anthropic, provider: str
):
    marker = f"top-k-marker-{provider}"
    ask = dict(
        model=model(provider), max_tokens=16, extra_body={"top_k": 7}, messages=[{"role": "user", "content": marker}]
    )
    if provider not in TOP_K_FIELD:
        with pytest.raises(anthropic.BadRequestError) as refused:
            claude.messages.create(**ask)
        assert "top_k" in refused.value.message
        return
    claude.messages.create(**ask)
    sent = fake.wait_request(marker)["body"]
    for key in TOP_K_FIELD[provider]:
        sent = sent[key]
    assert sent == 7


def test_anthropic_sdk_lists_models(gateway: Gateway, claude: anthropic.Anthropic):
    models = list(claude.models.list())
    ids = [m.id for m in models]
    assert "fake-chat" in ids and "smollm2-135m-instruct" in ids, ids
    assert len(ids) == len(set(ids)), "each model once"
    assert all(m.type == "model" for m in models)
    bad = anthropic.Anthropic(base_url=gateway.base, api_key="wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        bad.models.list()
    bad.close()


def test_bedrock_with_credentials_from_the_container_endpoint(fake: FakeUpstream, oa: openai.OpenAI):
    marker = "container-credentials-marker"
    r = oa.chat.completions.create(
        model=model(CONTAINER_CREDENTIALS_PROVIDER), messages=[{"role": "user", "content": marker}]
    )
    assert r.choices[0].message.content == f"Echo: {marker}"
    sent = fake.wait_request(marker)
    assert sent["headers"]["x-amz-security-token"] == "fake-aws-session-token"
    assert sent["headers"]["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIAKEELFAKEBEDROCK1/")
    fetches = [r for r in fake.requests() if r["path"] == "/__aws/container-credentials"]
    assert fetches and fetches[0]["headers"]["authorization"] == "fake-container-authorization-token"


def test_openai_sdk_reasoning_effort_gets_claudes_thinking(oa: openai.OpenAI):
    r = oa.chat.completions.create(
        model=model("claude"), reasoning_effort="low", messages=[{"role": "user", "content": "why so"}]
    )
    assert r.choices[0].message.content == "Echo: why so"
    assert r.choices[0].message.model_extra["reasoning_content"] == "Thinking about: why so"
    with pytest.raises(openai.BadRequestError) as refused:
        oa.chat.completions.create(
            model=model("claude"),
            reasoning_effort="low",
            temperature=0.2,
            messages=[{"role": "user", "content": "x"}],
        )
    assert "temperature" in refused.value.message
