"""Governance as its users meet it: virtual keys created through the admin API
(/admin/v1, with the master key), then used with the official `openai` and
`anthropic` SDKs. Rate limits, budgets, revocation, expiry and model
allow-lists must surface as the exceptions, codes and headers those SDKs
expose; and a key's calls must be recorded under its name, team and user.

Every test creates its own uniquely named keys (and team and user), so the
limits and spend of one test never reach another, nor other test modules
sharing the session gateway."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import anthropic
import openai
import pytest

from support import (
    LOCAL_MODEL,
    FakeUpstream,
    Gateway,
    assert_invocation_id,
    assert_openai_error,
    wait_until,
)

MODEL = "fake-chat"  # priced in keel.toml, answered by the fake upstream
# Records are written in batches about every 100 ms; this leaves ample room.
RECORD_WAIT_S = 5.0


# --------------------------------------------------------------------------- admin API


def admin(gateway: Gateway, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
    """One admin API call with the master key: (status, decoded JSON)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"{gateway.base}/admin/v1{path}",
        data=data,
        method=method,
        headers={"authorization": f"Bearer {gateway.master_key}", "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        payload = e.read()
        try:
            return e.code, json.loads(payload)
        except ValueError:
            return e.code, payload.decode(errors="replace")


def admin_ok(gateway: Gateway, method: str, path: str, body: dict | None = None, status: int = 200) -> Any:
    got, payload = admin(gateway, method, path, body)
    assert got == status, f"{method} /admin/v1{path} {body}: expected {status}, got {got}: {payload}"
    return payload


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def create_key(gateway: Gateway, **fields: Any) -> dict:
    """A new virtual key with a unique name; the answer carries its secret in `key`."""
    body = {"name": unique("gov-key"), **fields}
    key = admin_ok(gateway, "POST", "/keys", body, status=201)
    assert key["name"] == body["name"], key
    assert key["id"], key
    assert key["key"].startswith("sk-keel-"), key
    return key


def openai_client(gateway: Gateway, key: dict) -> openai.OpenAI:
    return gateway.client(api_key=key["key"])


def anthropic_client(gateway: Gateway, key: dict) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.base, api_key=key["key"], max_retries=0, timeout=30.0)


def chat(c: openai.OpenAI, content: str = "hello governance", model: str = MODEL, **kw: Any):
    return c.chat.completions.create(
        model=model, messages=[{"role": "user", "content": content}], max_tokens=16, **kw
    )


def message(c: anthropic.Anthropic, content: str = "hello governance", model: str = MODEL):
    return c.messages.create(model=model, max_tokens=16, messages=[{"role": "user", "content": content}])


# --------------------------------------------------------------------------- assertions


def openai_error(exc: openai.APIStatusError, status: int, *, type_: str | None = None, code: str) -> dict:
    """The status, the OpenAI error shape of the raw body (with `code`), and
    the invocation id every answer carries."""
    assert exc.status_code == status, f"expected HTTP {status}, got {exc.status_code}: {exc}"
    assert_invocation_id(exc.response.headers.get("x-keel-invocation-id"))
    err = assert_openai_error(json.loads(exc.response.content), status, type_=type_, code=code)
    # The SDK exposes the same code to its users.
    assert exc.code == code, f"SDK code {exc.code!r}, body code {err['code']!r}"
    return err


def anthropic_error(exc: anthropic.APIStatusError, status: int, type_: str) -> str:
    """The status and Anthropic's error shape of the raw body; returns the message."""
    assert exc.status_code == status, f"expected HTTP {status}, got {exc.status_code}: {exc}"
    body = json.loads(exc.response.content)
    assert isinstance(body, dict) and body.get("type") == "error", f"not an Anthropic error body: {body!r}"
    err = body.get("error")
    assert isinstance(err, dict), f"not an Anthropic error body: {body!r}"
    assert err.get("type") == type_, f"HTTP {status}: expected error.type {type_!r}, got {body!r}"
    assert isinstance(err.get("message"), str) and err["message"], f"empty message: {body!r}"
    assert set(err) == {"type", "message"}, f"unexpected fields in an Anthropic error: {body!r}"
    return err["message"]


def retry_after_seconds(headers: Any, upper: int) -> int:
    value = headers.get("retry-after")
    assert value is not None, "a refusal lacks retry-after"
    assert re.fullmatch(r"\d+", value), f"retry-after is not integer seconds: {value!r}"
    secs = int(value)
    assert 1 <= secs <= upper, f"retry-after {secs} outside [1, {upper}]"
    return secs


def next_utc_midnight() -> datetime:
    today = datetime.now(timezone.utc).date()
    return datetime(today.year, today.month, today.day, tzinfo=timezone.utc) + timedelta(days=1)


def assert_daily_budget_message(message: str, key_id: str) -> None:
    """Names the key's budget and says when it resets: the next UTC midnight."""
    assert f"key:{key_id}" in message, f"the message does not name the key's budget: {message!r}"
    assert "daily" in message, message
    m = re.search(r"resets at (\S+?)\.?$", message)
    assert m, f"the message does not say when the budget resets: {message!r}"
    resets = datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
    # A call made just before midnight may see today's boundary as tomorrow's.
    assert resets in (next_utc_midnight(), next_utc_midnight() - timedelta(days=1)), message


def never_forwarded(fake: FakeUpstream, marker: str) -> None:
    assert fake.requests_for(marker) == [], f"a refused call carrying {marker!r} reached the upstream"


# --------------------------------------------------------------------------- rate limits


def test_rpm_limit_raises_rate_limit_error_with_headers(gateway: Gateway, fake: FakeUpstream):
    key = create_key(gateway, rpm=2)
    c = openai_client(gateway, key)

    raw = c.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "first"}], max_tokens=16
    )
    assert raw.status_code == 200
    assert raw.parse().choices[0].message.content
    assert raw.headers.get("x-ratelimit-limit-requests") == "2", dict(raw.headers)
    assert raw.headers.get("x-ratelimit-remaining-requests") == "1", dict(raw.headers)

    raw = c.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "second"}], max_tokens=16
    )
    assert raw.headers.get("x-ratelimit-remaining-requests") == "0", dict(raw.headers)

    marker = unique("marker-rpm")
    with pytest.raises(openai.RateLimitError) as ei:
        chat(c, marker)
    err = openai_error(ei.value, 429, type_="rate_limit_error", code="rate_limit_exceeded")
    assert f"key:{key['id']}" in err["message"], err
    headers = ei.value.response.headers
    # Two requests a minute refill one every 30 s.
    retry_after_seconds(headers, upper=30)
    assert headers.get("x-ratelimit-limit-requests") == "2", dict(headers)
    assert headers.get("x-ratelimit-remaining-requests") == "0", dict(headers)
    assert headers.get("x-ratelimit-reset-requests"), dict(headers)
    never_forwarded(fake, marker)


def test_rpm_limit_is_per_key(gateway: Gateway):
    """Another key (with the same limit) is not refused when the first one is."""
    spent, fresh = create_key(gateway, rpm=1), create_key(gateway, rpm=1)
    chat(openai_client(gateway, spent))
    with pytest.raises(openai.RateLimitError):
        chat(openai_client(gateway, spent))
    assert chat(openai_client(gateway, fresh)).choices


# --------------------------------------------------------------------------- budgets


def test_budget_exceeded_is_429_naming_the_budget(gateway: Gateway, fake: FakeUpstream):
    # Any call's worst case (its body's bytes as input tokens, max_tokens as
    # output, at fake-chat's price) is far above a millionth of a dollar.
    key = create_key(gateway, budget_usd=0.000001, budget_period="daily")
    c = openai_client(gateway, key)
    marker = unique("marker-budget")
    with pytest.raises(openai.RateLimitError) as ei:
        chat(c, marker)
    err = openai_error(ei.value, 429, code="budget_exceeded")
    assert_daily_budget_message(err["message"], key["id"])
    # Until midnight UTC at most.
    retry_after_seconds(ei.value.response.headers, upper=86_400)
    never_forwarded(fake, marker)


def test_budget_shows_spend_after_calls(gateway: Gateway):
    """A budget the calls fit in lets them through, and its spend is visible."""
    key = create_key(gateway, budget_usd=1.0, budget_period="daily")
    c = openai_client(gateway, key)
    for i in range(2):
        assert chat(c, f"spend {i}").choices

    def spent() -> dict | None:
        budgets = admin_ok(gateway, "GET", "/budgets")["data"]
        mine = [b for b in budgets if b["scope"] == f"key:{key['id']}"]
        assert len(mine) == 1, budgets
        b = mine[0]
        return b if b["spent_usd"] > 0 and b["reserved_usd"] == 0 else None

    b = wait_until(spent, RECORD_WAIT_S, "the key's budget to show settled spend")
    assert b["period"] == "daily", b
    assert 0 < b["spent_usd"] < 0.001, b
    assert b["spent_tokens"] > 0, b


# --------------------------------------------------------------------------- revocation and expiry


def test_revoked_key_is_authentication_error(gateway: Gateway):
    key = create_key(gateway)
    c = openai_client(gateway, key)
    assert chat(c).choices  # works until revoked

    admin_ok(gateway, "POST", f"/keys/{key['id']}/revoke")
    with pytest.raises(openai.AuthenticationError) as ei:
        chat(c)
    err = openai_error(ei.value, 401, type_="authentication_error", code="invalid_api_key")
    assert "revoked" in err["message"], err
    with pytest.raises(openai.AuthenticationError):
        c.models.list()


def test_expired_key_is_authentication_error(gateway: Gateway):
    key = create_key(gateway, expires="1h")
    c = openai_client(gateway, key)
    assert chat(c).choices  # works before it expires

    admin_ok(gateway, "PATCH", f"/keys/{key['id']}", {"expires": "0s"})
    with pytest.raises(openai.AuthenticationError) as ei:
        chat(c)
    err = openai_error(ei.value, 401, type_="authentication_error", code="invalid_api_key")
    assert "expired" in err["message"], err


# --------------------------------------------------------------------------- model allow-lists


def test_model_outside_allow_list_is_permission_denied(gateway: Gateway, fake: FakeUpstream):
    key = create_key(gateway, models=["fake-*"])
    c = openai_client(gateway, key)
    assert chat(c, model="fake-chat").choices

    marker = unique("marker-allow")
    with pytest.raises(openai.PermissionDeniedError) as ei:
        chat(c, marker, model=LOCAL_MODEL)
    err = openai_error(ei.value, 403, type_="permission_error", code="model_not_allowed")
    assert err["param"] == "model", err
    assert LOCAL_MODEL in err["message"], err
    # A pattern matches the whole name: "fault-500" is not "fake-*".
    with pytest.raises(openai.PermissionDeniedError):
        chat(c, marker, model="fault-500")
    never_forwarded(fake, marker)


def test_models_list_shows_only_allowed_models(gateway: Gateway, client: openai.OpenAI):
    key = create_key(gateway, models=["fake-*"])
    ids = [m.id for m in openai_client(gateway, key).models.list()]
    assert ids, "the allowed models are not listed"
    assert all(re.fullmatch(r"fake-.*", i) for i in ids), ids
    assert "fake-chat" in ids, ids
    # Everything the gateway serves that the pattern matches is listed.
    everything = {m.id for m in client.models.list()}
    assert LOCAL_MODEL in everything and "fault-500" in everything, everything
    assert set(ids) == {i for i in everything if i.startswith("fake-")}, (ids, everything)
    assert len(ids) == len(set(ids)), ids


# --------------------------------------------------------------------------- the anthropic SDK on /v1/messages


def test_anthropic_rate_limit(gateway: Gateway):
    key = create_key(gateway, rpm=1)
    c = anthropic_client(gateway, key)
    assert message(c).content
    with pytest.raises(anthropic.RateLimitError) as ei:
        message(c)
    msg = anthropic_error(ei.value, 429, "rate_limit_error")
    assert f"key:{key['id']}" in msg, msg
    retry_after_seconds(ei.value.response.headers, upper=60)
    assert ei.value.response.headers.get("x-ratelimit-limit-requests") == "1"
    assert ei.value.response.headers.get("x-ratelimit-remaining-requests") == "0"


def test_anthropic_budget_exceeded(gateway: Gateway, fake: FakeUpstream):
    key = create_key(gateway, budget_usd=0.000001, budget_period="daily")
    marker = unique("marker-anthropic-budget")
    with pytest.raises(anthropic.RateLimitError) as ei:
        message(anthropic_client(gateway, key), marker)
    msg = anthropic_error(ei.value, 429, "rate_limit_error")
    assert "Budget exceeded" in msg, msg
    assert_daily_budget_message(msg, key["id"])
    retry_after_seconds(ei.value.response.headers, upper=86_400)
    never_forwarded(fake, marker)


def test_anthropic_revoked_key(gateway: Gateway):
    key = create_key(gateway)
    c = anthropic_client(gateway, key)
    assert message(c).content
    admin_ok(gateway, "POST", f"/keys/{key['id']}/revoke")
    with pytest.raises(anthropic.AuthenticationError) as ei:
        message(c)
    msg = anthropic_error(ei.value, 401, "authentication_error")
    assert "revoked" in msg, msg


def test_anthropic_expired_key(gateway: Gateway):
    key = create_key(gateway, expires="1h")
    c = anthropic_client(gateway, key)
    admin_ok(gateway, "PATCH", f"/keys/{key['id']}", {"expires": "0s"})
    with pytest.raises(anthropic.AuthenticationError) as ei:
        message(c)
    msg = anthropic_error(ei.value, 401, "authentication_error")
    assert "expired" in msg, msg


def test_anthropic_model_outside_allow_list(gateway: Gateway, fake: FakeUpstream):
    key = create_key(gateway, models=["fake-*"])
    c = anthropic_client(gateway, key)
    assert message(c, model="fake-chat").content
    marker = unique("marker-anthropic-allow")
    with pytest.raises(anthropic.PermissionDeniedError) as ei:
        message(c, marker, model=LOCAL_MODEL)
    msg = anthropic_error(ei.value, 403, "permission_error")
    assert LOCAL_MODEL in msg, msg
    never_forwarded(fake, marker)
    # The Anthropic-shaped model list is filtered the same way.
    ids = [m.id for m in c.models.list()]
    assert "fake-chat" in ids and LOCAL_MODEL not in ids, ids
    assert all(i.startswith("fake-") for i in ids), ids


# --------------------------------------------------------------------------- records


def test_calls_are_recorded_under_key_team_and_user(gateway: Gateway):
    team = admin_ok(gateway, "POST", "/teams", {"name": unique("gov-team")}, status=201)
    email = f"{unique('gov-user')}@example.com"
    user = admin_ok(gateway, "POST", "/users", {"email": email, "team": team["id"]}, status=201)
    key = create_key(gateway, team=team["id"], user=user["id"])
    assert key["team_id"] == team["id"] and key["user_id"] == user["id"], key

    raw = openai_client(gateway, key).chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "recorded"}], max_tokens=16
    )
    invocation_id = assert_invocation_id(raw.headers.get("x-keel-invocation-id"))

    query = urllib.parse.urlencode({"key": key["id"]})
    records = wait_until(
        lambda: admin_ok(gateway, "GET", f"/invocations?{query}")["data"],
        RECORD_WAIT_S,
        f"the record of key {key['id']}",
    )
    assert len(records) == 1, records
    rec = records[0]
    assert rec["id"] == invocation_id, rec
    assert rec["key_id"] == key["id"], rec
    assert rec["key_name"] == key["name"], rec
    assert rec["team_id"] == team["id"], rec
    assert rec["user_id"] == user["id"], rec
    assert rec["status"] == 200 and rec["requested_model"] == MODEL, rec

    # The same record is found by its team and by its user.
    for field, value in (("team", team["id"]), ("user", user["id"])):
        q = urllib.parse.urlencode({field: value})
        found = admin_ok(gateway, "GET", f"/invocations?{q}")["data"]
        assert [r["id"] for r in found] == [invocation_id], (field, found)
