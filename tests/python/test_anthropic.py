"""The official `anthropic` SDK against Keel's /v1/messages front door, served
by OpenAI-compatible providers (the fake upstream and the real local model)."""

import anthropic
import pytest

from support import Gateway


@pytest.fixture(scope="module")
def claude(gateway: Gateway):
    c = anthropic.Anthropic(base_url=gateway.base, api_key=gateway.master_key, max_retries=0)
    yield c
    c.close()


def test_message_from_the_fake_provider(claude: anthropic.Anthropic):
    msg = claude.messages.create(
        model="fake-chat",
        max_tokens=64,
        system="be brief",
        messages=[{"role": "user", "content": "hello from anthropic"}],
    )
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.content[0].type == "text"
    assert msg.content[0].text == "Echo: hello from anthropic"
    assert msg.stop_reason == "end_turn"
    assert msg.usage.output_tokens > 0


def test_message_from_the_real_model(claude: anthropic.Anthropic):
    msg = claude.messages.create(
        model="smollm2-135m-instruct",
        max_tokens=16,
        messages=[{"role": "user", "content": "Say hi"}],
    )
    assert msg.content and msg.content[0].text.strip()
    assert msg.stop_reason in ("end_turn", "max_tokens")
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0


def test_streamed_message_with_the_sdk_helper(claude: anthropic.Anthropic):
    with claude.messages.stream(
        model="fake-chat",
        max_tokens=64,
        messages=[{"role": "user", "content": "one two three"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Echo: one two three"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


def test_tool_use_round_trip_keeps_ids(claude: anthropic.Anthropic):
    tools = [{
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }]
    first = claude.messages.create(
        model="fake-chat",
        max_tokens=64,
        tools=tools,
        tool_choice={"type": "tool", "name": "get_weather"},
        messages=[{"role": "user", "content": "weather in Paris?"}],
    )
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    assert call.name == "get_weather" and "city" in call.input
    second = claude.messages.create(
        model="fake-chat",
        max_tokens=64,
        tools=tools,
        messages=[
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}]},
        ],
    )
    assert second.type == "message"


def test_typed_errors(gateway: Gateway, claude: anthropic.Anthropic):
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.create(model="no-such-model", max_tokens=8, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.RateLimitError) as rate:
        claude.messages.create(model="fault-429", max_tokens=8, messages=[{"role": "user", "content": "x"}])
    assert rate.value.response.headers.get("retry-after") == "7"
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.create(
            model="fake-chat", max_tokens=8, extra_body={"top_k": 5}, messages=[{"role": "user", "content": "x"}]
        )
    bad = anthropic.Anthropic(base_url=gateway.base, api_key="wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        bad.messages.create(model="fake-chat", max_tokens=8, messages=[{"role": "user", "content": "x"}])
    bad.close()
