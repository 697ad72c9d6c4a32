"""Fixtures for Keel's Python end-to-end suite (helpers are in support.py).

The session runs one Keel gateway with providers `fake` (the fake upstream
started here), `local` (the real model at $KEEL_TEST_UPSTREAM_URL, models
discovered), `dead` (a port that refuses connections), and the fake's
vendor APIs (`claude`, `gemini`, `bedrock`, `bedrock-ecs`; see support.py).
"""

from __future__ import annotations

import socket
from typing import Iterator

import openai
import pytest

from support import (
    ANTHROPIC_UPSTREAM_KEY,
    BEDROCK_CREDENTIALS,
    CONTAINER_CREDENTIALS_TOKEN,
    DEAD_KEY,
    GEMINI_UPSTREAM_KEY,
    FAKE_UPSTREAM_KEY,
    LOCAL_KEY,
    LOCAL_MODEL,
    LOCAL_URL,
    FakeUpstream,
    Gateway,
    http_get_json,
    keel_toml,
    raw_request,
    tail,
)

# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeUpstream]:
    d = tmp_path_factory.mktemp("fake")
    up = FakeUpstream(d / "fake-upstream.log")
    yield up
    up.stop()


@pytest.fixture(scope="session")
def local_url() -> str:
    """The real local model; its absence fails the suite (it is not optional)."""
    try:
        models = http_get_json(f"{LOCAL_URL}/models")
        ids = [m["id"] for m in models.get("data", [])]
    except (OSError, ValueError, KeyError) as exc:
        pytest.fail(
            f"the real local model is not reachable at {LOCAL_URL} ({exc!r}); "
            "start it with `scripts/upstream/start.sh 8090` or set KEEL_TEST_UPSTREAM_URL"
        )
    if LOCAL_MODEL not in ids:
        pytest.fail(f"{LOCAL_URL}/models does not list {LOCAL_MODEL!r} (got {ids})")
    return LOCAL_URL


@pytest.fixture(scope="session")
def dead_url() -> Iterator[str]:
    """A URL whose port refuses connections: a bound socket that never listens
    keeps the port reserved for the whole session."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    yield f"http://127.0.0.1:{port}/v1"
    s.close()


@pytest.fixture(scope="session")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, fake: FakeUpstream, local_url: str, dead_url: str
) -> Iterator[Gateway]:
    d = tmp_path_factory.mktemp("keel")
    gw = Gateway(
        d,
        keel_toml(fake.url, local_url, dead_url),
        {
            "FAKE_UPSTREAM_KEY": FAKE_UPSTREAM_KEY,
            "LOCAL_KEY": LOCAL_KEY,
            "DEAD_KEY": DEAD_KEY,
            "ANTHROPIC_UPSTREAM_KEY": ANTHROPIC_UPSTREAM_KEY,
            "GEMINI_UPSTREAM_KEY": GEMINI_UPSTREAM_KEY,
            **BEDROCK_CREDENTIALS,
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{fake.base}/__aws/container-credentials",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": CONTAINER_CREDENTIALS_TOKEN,
        },
    )
    yield gw
    rc = gw.stop()
    assert rc == 0, f"keel serve exited {rc} on SIGTERM:\n{tail(gw.log_path)}"


@pytest.fixture(scope="session")
def client(gateway: Gateway) -> Iterator[openai.OpenAI]:
    c = gateway.client()
    yield c
    c.close()


@pytest.fixture(scope="session")
def fault_messages(fake: FakeUpstream) -> dict[str, str]:
    """The error message the fake upstream itself returns for each HTTP-error
    fault model, asked directly (not through Keel)."""
    out = {}
    for model in ("fault-500", "fault-400", "fault-429"):
        r = raw_request(
            fake.base,
            "POST",
            "/v1/chat/completions",
            {"model": model, "messages": [{"role": "user", "content": "direct"}]},
            {"authorization": f"Bearer {FAKE_UPSTREAM_KEY}"},
        )
        assert r.status >= 400, f"{model} answered {r.status} directly"
        out[model] = r.json()["error"]["message"]
    return out
