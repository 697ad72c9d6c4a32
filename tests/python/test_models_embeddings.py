"""`GET /v1/models` and `POST /v1/embeddings` through Keel with the OpenAI SDK,
plus zero-config mode (OPENAI_API_KEY/OPENAI_BASE_URL, models discovered)."""

from __future__ import annotations

import base64
import json
import math
import struct

import openai
import pytest

from support import (
    FAKE_MODELS,
    LOCAL_MODEL,
    MASTER_KEY,
    FakeUpstream,
    Gateway,
    assert_invocation_id,
    assert_openai_error,
    header_value,
)

EMBED_DIMENSIONS = 8  # the fake upstream's default vector length


def fnv1a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def fake_vector(text: str, dims: int = EMBED_DIMENSIONS) -> list[float]:
    """The fake upstream's deterministic unit vector for `text` (computed independently)."""
    raw = [f32((fnv1a(f"{i}:{text}".encode()) >> 11) / float(1 << 53) * 2.0 - 1.0) for i in range(dims)]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


def listed(ids: set[str], provider: str, model: str) -> bool:
    return model in ids or f"{provider}/{model}" in ids


# --------------------------------------------------------------------------- models


def test_models_list_has_fake_and_local_models(client: openai.OpenAI):
    models = list(client.models.list())
    ids = {m.id for m in models}
    for m in FAKE_MODELS:
        assert listed(ids, "fake", m), f"{m} missing from /v1/models: {sorted(ids)}"
    assert listed(ids, "local", LOCAL_MODEL), f"discovered {LOCAL_MODEL} missing: {sorted(ids)}"
    assert listed(ids, "dead", "dead-model")
    assert all(m.object == "model" for m in models)


def test_models_list_shape_raw(gateway: Gateway):
    r = gateway.raw("GET", "/v1/models")
    assert r.status == 200, r
    body = r.json()
    assert body["object"] == "list" and isinstance(body["data"], list) and body["data"]
    for m in body["data"]:
        assert isinstance(m["id"], str) and m["object"] == "model", m


def test_models_list_requires_key(gateway: Gateway):
    r = gateway.raw("GET", "/v1/models", auth=False)
    assert r.status == 401, r
    assert_openai_error(r.json(), 401, type_="authentication_error", code="invalid_api_key")


# --------------------------------------------------------------------------- embeddings


def test_embeddings_float_one_string(client: openai.OpenAI):
    raw = client.embeddings.with_raw_response.create(
        model="fake-embed", input="hello embedding world", encoding_format="float"
    )
    assert_invocation_id(raw.headers.get("x-keel-invocation-id"))
    r = raw.parse()
    assert r.object == "list" and len(r.data) == 1
    assert r.data[0].index == 0 and r.data[0].object == "embedding"
    assert r.data[0].embedding == pytest.approx(fake_vector("hello embedding world"), abs=1e-6)
    assert r.usage.prompt_tokens == 3 and r.usage.total_tokens == 3
    assert isinstance(json.loads(raw.text)["data"][0]["embedding"], list)


def test_embeddings_float_list(client: openai.OpenAI):
    texts = ["first text", "the second one", "third"]
    r = client.embeddings.create(model="fake-embed", input=texts, encoding_format="float")
    assert [d.index for d in r.data] == [0, 1, 2]
    for d, t in zip(r.data, texts, strict=True):
        assert d.embedding == pytest.approx(fake_vector(t), abs=1e-6)
    assert r.usage.prompt_tokens == 2 + 3 + 1


def test_embeddings_base64_default_one_string(client: openai.OpenAI, fake: FakeUpstream):
    marker = "marker-embed-b64-61af"
    # The SDK asks for base64 by default and decodes it back to floats.
    raw = client.embeddings.with_raw_response.create(model="fake-embed", input=marker)
    wire = json.loads(raw.text)["data"][0]["embedding"]
    assert isinstance(wire, str), "base64 was asked for: the gateway must return a base64 string"
    decoded = list(struct.unpack(f"<{len(base64.b64decode(wire)) // 4}f", base64.b64decode(wire)))
    assert decoded == pytest.approx(fake_vector(marker), abs=1e-6)
    assert raw.parse().data[0].embedding == pytest.approx(fake_vector(marker), abs=1e-6)
    assert fake.wait_request(marker)["body"]["encoding_format"] == "base64"


def test_embeddings_base64_default_list(client: openai.OpenAI):
    texts = ["alpha beta", "gamma"]
    r = client.embeddings.create(model="fake-embed", input=texts)
    assert len(r.data) == 2
    for d, t in zip(sorted(r.data, key=lambda d: d.index), texts, strict=True):
        assert len(d.embedding) == EMBED_DIMENSIONS
        assert d.embedding == pytest.approx(fake_vector(t), abs=1e-6)


def test_embeddings_dimensions_and_prefix(client: openai.OpenAI, fake: FakeUpstream):
    marker = "marker-embed-dims-3c55"
    r = client.embeddings.create(model="fake/fake-embed", input=marker, dimensions=16, encoding_format="float")
    assert r.data[0].embedding == pytest.approx(fake_vector(marker, 16), abs=1e-6)
    assert fake.wait_request(marker)["body"]["model"] == "fake-embed"


def test_embeddings_bad_input_is_400(client: openai.OpenAI):
    with pytest.raises(openai.BadRequestError) as ei:
        client.embeddings.create(model="fake-embed", input=[{"not": "text"}])  # type: ignore[list-item]
    assert ei.value.status_code == 400
    assert_openai_error(json.loads(ei.value.response.content), 400, type_="invalid_request_error")


# --------------------------------------------------------------------------- zero-config mode


def test_zero_config_discovers_openai_compatible_upstream(tmp_path, fake: FakeUpstream):
    gw = Gateway(tmp_path, None, {"OPENAI_API_KEY": "sk-zero-config-key", "OPENAI_BASE_URL": fake.url})
    try:
        c = gw.client()
        ids = {m.id for m in c.models.list()}
        assert listed(ids, "openai", "fake-chat") and listed(ids, "openai", "fake-embed"), sorted(ids)
        marker = "marker-zero-config-90b1"
        r = c.chat.completions.create(model="fake-chat", messages=[{"role": "user", "content": marker}])
        assert r.choices[0].message.content == f"Echo: {marker}"
        req = fake.wait_request(marker)
        assert header_value(req["headers"], "authorization") == "Bearer sk-zero-config-key"
        r = c.chat.completions.create(model="openai/fake-chat", messages=[{"role": "user", "content": "x y"}])
        assert r.choices[0].message.content == "Echo: x y"
        with pytest.raises(openai.AuthenticationError):
            gw.client(api_key=MASTER_KEY + "-wrong").models.list()
    finally:
        rc = gw.stop()
    assert rc == 0, f"keel serve exited {rc} on SIGTERM"
