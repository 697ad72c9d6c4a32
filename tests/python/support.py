"""Support code for Keel's Python end-to-end suite (fixtures are in conftest.py).

One Keel gateway (`keel serve`) runs for the whole session, configured with
these providers:

- ``fake``:  the fault-injecting fake upstream (`keel-fake-upstream`), started here;
- ``local``: a real model (llama.cpp serving SmolLM2-135M-Instruct), expected at
  $KEEL_TEST_UPSTREAM_URL (default http://127.0.0.1:8090/v1; start it with
  scripts/upstream/start.sh). Its models are discovered (`discover = true`);
- ``dead``:  a port that refuses connections;
- ``claude``, ``gemini``, ``bedrock``: the same fake process, called in
  Anthropic's, Gemini's and Bedrock's own formats (NATIVE_PROVIDERS);
- ``bedrock-ecs``: Bedrock again, with no keys: Keel gets temporary ones
  from the fake's container credentials endpoint.

Tests talk to the gateway with the official `openai` SDK and, where the SDK
would hide what is on the wire, with raw HTTP (`http.client`). Invocation
records are read back through the CLI (`keel logs --json`), polling with a
deadline since records are written asynchronously.

Binaries: $KEEL_BIN (default target/debug/keel) and $KEEL_FAKE_UPSTREAM_BIN
(default: keel-fake-upstream next to the keel binary). Build them with
`cargo build -p keel-cli -p keel-testkit`.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import openai
import pytest

ROOT = Path(__file__).resolve().parents[2]
KEEL_BIN = Path(os.environ.get("KEEL_BIN", ROOT / "target" / "debug" / "keel"))
FAKE_BIN = Path(os.environ.get("KEEL_FAKE_UPSTREAM_BIN", KEEL_BIN.parent / "keel-fake-upstream"))
LOCAL_URL = os.environ.get("KEEL_TEST_UPSTREAM_URL", "http://127.0.0.1:8090/v1").rstrip("/")
LOCAL_MODEL = "smollm2-135m-instruct"

MASTER_KEY = "sk-keel-test-master-0123456789"
# The key the fake's Anthropic API accepts (keel_testkit::ANTHROPIC_API_KEY).
ANTHROPIC_UPSTREAM_KEY = "anthropic-test-key"
# … and its Gemini API (keel_testkit::GEMINI_API_KEY).
GEMINI_UPSTREAM_KEY = "gemini-test-key"
# … and the keys its Bedrock runtime checks SigV4 signatures with
# (keel_testkit::BEDROCK_ACCESS_KEY_ID / BEDROCK_SECRET_ACCESS_KEY).
BEDROCK_CREDENTIALS = {
    "BEDROCK_ACCESS_KEY_ID": "AKIAKEELFAKEBEDROCK1",
    "BEDROCK_SECRET_ACCESS_KEY": "keel/fake/bedrock/secret/key/0123456789ab",
}
FAKE_UPSTREAM_KEY = "sk-fake-upstream-key-abc"
LOCAL_KEY = "sk-local-unused"
DEAD_KEY = "sk-dead-unused"

# Total time Keel allows a non-stream upstream call (fault-hang → 504 after it).
# Real-model calls in this suite stay far below it (small max_tokens).
REQUEST_TIMEOUT_MS = 4000
MAX_BODY_BYTES = 262144

FAKE_MODELS = [
    "fake-chat",
    "fake-cached",
    "fake-embed",
    "fault-500",
    "fault-429",
    "fault-400",
    "fault-hang",
    "fault-malformed",
    "fault-cut",
    "fault-garbage-stream",
    "fault-slow-stream",
    "fault-no-usage",
    "fault-long-stream",
]

# Native providers served by the same fake, each in its vendor's wire format,
# reached as "<provider>/<model>"; "fake" is the OpenAI-compatible one.
NATIVE_PROVIDERS = {
    "claude": {"kind": "anthropic", "api_key": "env:ANTHROPIC_UPSTREAM_KEY"},
    "gemini": {"kind": "gemini", "api_key": "env:GEMINI_UPSTREAM_KEY"},
    "bedrock": {
        "kind": "bedrock",
        "region": "us-east-1",
        "aws_access_key_id": "env:BEDROCK_ACCESS_KEY_ID",
        "aws_secret_access_key": "env:BEDROCK_SECRET_ACCESS_KEY",
    },
}
# A Bedrock provider with no keys of its own: Keel finds temporary ones at
# the container credentials endpoint (the fake's), as on ECS or EKS.
CONTAINER_CREDENTIALS_PROVIDER = "bedrock-ecs"
CONTAINER_CREDENTIALS_TOKEN = "fake-container-authorization-token"

# Providers whose rate-limit answers carry retry-after (Bedrock's do not).
SENDS_RETRY_AFTER = {"fake", "claude", "gemini"}
MATRIX_MODELS = ["fake-chat", "fault-429", "fault-500", "fault-400", "fault-cut"]

# Per-1M-token USD prices written into keel.toml.
PRICES = {
    "fake-chat": {"input": 1.0, "output": 2.0, "cached_input": 0.5},
    "fake-cached": {"input": 3.0, "output": 4.0, "cached_input": 1.5},
}

READY_TIMEOUT_S = 30.0
RECORD_TIMEOUT_S = 10.0


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll `cond` until it returns a truthy value; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = cond()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - reported at the deadline
            last_exc = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


def tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "<no log>"


def new_trace_id() -> str:
    return uuid.uuid4().hex


def new_span_id() -> str:
    return uuid.uuid4().hex[:16]


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def raw_request(
    base: str,
    method: str,
    path: str,
    body: bytes | dict | list | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> RawResponse:
    """One HTTP request with no client-side validation; `base` is http://host:port."""
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        data: bytes | None
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            hdrs.setdefault("content-type", "application/json")
        else:
            data = body
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        payload = resp.read()
        return RawResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload)
    finally:
        conn.close()


def http_get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def header_value(headers: Any, name: str) -> str | None:
    """A header from a recorded request: accepts `{name: value}` or `[[name, value], ...]`."""
    name = name.lower()
    if isinstance(headers, dict):
        for k, v in headers.items():
            if k.lower() == name:
                return v
        return None
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


# --------------------------------------------------------------------------- fake upstream


class FakeUpstream:
    """The fault-injecting fake OpenAI-compatible upstream (`keel-fake-upstream`)."""

    def __init__(self, log_path: Path):
        if not FAKE_BIN.exists():
            pytest.fail(
                f"fake upstream binary not found at {FAKE_BIN}; "
                "build it with `cargo build -p keel-cli -p keel-testkit` or set KEEL_FAKE_UPSTREAM_BIN"
            )
        self.log_path = log_path
        self._log = open(log_path, "wb")
        port = free_port()
        self.proc = subprocess.Popen(
            [str(FAKE_BIN), "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        lines: queue.Queue[bytes] = queue.Queue()

        def pump() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:  # keep draining so the pipe never fills
                lines.put(line)
            lines.put(b"")

        threading.Thread(target=pump, daemon=True).start()
        try:
            first = lines.get(timeout=READY_TIMEOUT_S).decode().strip()
        except queue.Empty:
            self.stop()
            pytest.fail(f"fake upstream printed no URL within {READY_TIMEOUT_S:.0f}s: {tail(log_path)}")
        if not first.startswith("http://"):
            self.stop()
            pytest.fail(f"fake upstream did not print its URL (got {first!r}): {tail(log_path)}")
        self.url = first.rstrip("/")  # http://127.0.0.1:PORT/v1
        u = urllib.parse.urlsplit(self.url)
        self.base = f"{u.scheme}://{u.netloc}"

    def requests(self) -> list[dict]:
        return json.loads(raw_request(self.base, "GET", "/__requests").body)

    def clear(self) -> None:
        r = raw_request(self.base, "DELETE", "/__requests")
        assert r.status < 300, r

    def requests_for(self, marker: str) -> list[dict]:
        """Recorded requests whose JSON body contains `marker` anywhere."""
        return [r for r in self.requests() if marker in json.dumps(r.get("body"))]

    def wait_request(self, marker: str, timeout: float = RECORD_TIMEOUT_S) -> dict:
        found = wait_until(lambda: self.requests_for(marker), timeout, f"fake upstream to receive {marker!r}")
        assert len(found) == 1, f"expected one upstream request carrying {marker!r}, got {len(found)}"
        return found[0]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


# --------------------------------------------------------------------------- gateway


class Gateway:
    """A running `keel serve` plus helpers to reach it and read its records."""

    def __init__(
        self,
        workdir: Path,
        config: str | None,
        env: dict[str, str],
        master_key: str = MASTER_KEY,
    ):
        if not KEEL_BIN.exists():
            pytest.fail(
                f"keel binary not found at {KEEL_BIN}; "
                "build it with `cargo build -p keel-cli -p keel-testkit` or set KEEL_BIN"
            )
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.master_key = master_key
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base}/v1"
        self.log_path = workdir / "keel.log"
        args = [str(KEEL_BIN), "serve"]
        if config is not None:
            self.config_path = workdir / "keel.toml"
            self.config_path.write_text(config)
            args += ["--config", str(self.config_path)]
        args += ["--data-dir", str(self.data_dir), "--host", "127.0.0.1", "--port", str(self.port)]
        # Nothing of the machine's own OpenAI, Keel or AWS setup leaks in.
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "KEEL_", "AWS_"))}
        full_env["AWS_SHARED_CREDENTIALS_FILE"] = str(workdir / "no-aws-credentials")
        full_env.update(env)
        full_env["KEEL_MASTER_KEY"] = master_key
        self.env = full_env
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=full_env
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"keel serve exited with {self.proc.returncode} during startup:\n{tail(self.log_path)}")
            try:
                if raw_request(self.base, "GET", "/health/ready", timeout=2).status == 200:
                    return
            except OSError:
                pass
            if time.monotonic() >= deadline:
                self.proc.kill()
                pytest.fail(f"keel serve not ready after {READY_TIMEOUT_S:.0f}s:\n{tail(self.log_path)}")
            time.sleep(0.05)

    # -- clients

    def client(self, **kw: Any) -> openai.OpenAI:
        kw.setdefault("api_key", self.master_key)
        kw.setdefault("max_retries", 0)
        kw.setdefault("timeout", 30.0)
        return openai.OpenAI(base_url=self.url, **kw)

    def raw(
        self,
        method: str,
        path: str,
        body: bytes | dict | list | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
        timeout: float = 30.0,
    ) -> RawResponse:
        hdrs = dict(headers or {})
        if auth:
            hdrs.setdefault("authorization", f"Bearer {self.master_key}")
        return raw_request(self.base, method, path, body, hdrs, timeout)

    # -- records

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [str(KEEL_BIN), *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=30,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"keel {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
        return proc

    def logs(self, *filters: str) -> list[dict]:
        """`keel logs --json [filters]`: records, newest first."""
        out = self.cli("logs", "--data-dir", str(self.data_dir), "--json", *filters).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def show(self, invocation_id: str) -> dict:
        """`keel logs show <id> --json`: one record with its bodies."""
        out = self.cli("logs", "show", invocation_id, "--data-dir", str(self.data_dir), "--json").stdout
        return json.loads(out)

    def wait_logs(self, *filters: str, count: int, timeout: float = RECORD_TIMEOUT_S) -> list[dict]:
        """Poll `keel logs` until at least `count` records match; fail when more than `count` do."""
        recs = wait_until(
            lambda: (lambda r: r if len(r) >= count else None)(self.logs(*filters, "--limit", "1000")),
            timeout,
            f"{count} record(s) for `keel logs {' '.join(filters)}`",
        )
        assert len(recs) == count, f"expected {count} record(s) for {filters}, got {len(recs)}: {recs}"
        return recs

    def wait_record(self, invocation_id: str, timeout: float = RECORD_TIMEOUT_S) -> dict:
        """The record (with bodies) of one invocation, once it is written."""
        return wait_until(
            lambda: self.show(invocation_id),
            timeout,
            f"record {invocation_id}",
        )

    def wait_trace(self, trace_id: str, count: int = 1, timeout: float = RECORD_TIMEOUT_S) -> list[dict]:
        return self.wait_logs("--trace", trace_id, count=count, timeout=timeout)

    # -- shutdown

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self._log.close()
                pytest.fail(f"keel serve ignored SIGTERM for {timeout:.0f}s:\n{tail(self.log_path)}")
        self._log.close()
        return self.proc.returncode


def keel_toml(fake_url: str, local_url: str, dead_url: str) -> str:
    models = ", ".join(json.dumps(m) for m in FAKE_MODELS)
    fake_root = fake_url.removesuffix("/v1")
    matrix = ", ".join(json.dumps(m) for m in MATRIX_MODELS)
    native = "".join(
        f'\n[[providers]]\nname = "{name}"\nbase_url = "{fake_root}"\nmodels = [{matrix}]\n'
        + "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())
        for name, settings in {
            **NATIVE_PROVIDERS,
            CONTAINER_CREDENTIALS_PROVIDER: {"kind": "bedrock", "region": "us-east-1"},
        }.items()
    )
    prices = "".join(
        f'\n[prices."{model}"]\n' + "".join(f"{k} = {v}\n" for k, v in p.items()) for model, p in PRICES.items()
    )
    return f"""\
[server]
max_body_bytes = {MAX_BODY_BYTES}

[store]
durability = "batched"

[upstream]
request_timeout_ms = {REQUEST_TIMEOUT_MS}

[[providers]]
name = "fake"
base_url = "{fake_url}"
api_key = "env:FAKE_UPSTREAM_KEY"
models = [{models}]

[[providers]]
name = "local"
base_url = "{local_url}"
api_key = "env:LOCAL_KEY"
discover = true

[[providers]]
name = "dead"
base_url = "{dead_url}"
api_key = "env:DEAD_KEY"
models = ["dead-model"]
{native}{prices}"""


# --------------------------------------------------------------------------- assertions shared by modules


def assert_openai_error(body: Any, status: int, *, type_: str | None = None, code: str | None = None) -> dict:
    """`body` is an OpenAI-shaped error: {"error": {"message", "type", "param", "code"}}."""
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), f"not an OpenAI error body: {body!r}"
    err = body["error"]
    for k in ("message", "type", "param", "code"):
        assert k in err, f"error body lacks {k!r}: {body!r}"
    assert isinstance(err["message"], str) and err["message"], f"empty error message: {body!r}"
    assert isinstance(err["type"], str) and err["type"], f"empty error type: {body!r}"
    if type_ is not None:
        assert err["type"] == type_, f"HTTP {status}: expected type {type_!r}, got {err['type']!r}"
    if code is not None:
        assert err["code"] == code, f"HTTP {status}: expected code {code!r}, got {err['code']!r}"
    return err


def assert_invocation_id(value: str | None) -> str:
    assert value, "response lacks x-keel-invocation-id"
    uuid.UUID(value)  # raises when it is not a UUID
    return value


@dataclass
class SSEStream:
    """A raw streaming response read event by event (`data:` payloads)."""

    status: int
    headers: dict[str, str]
    events: list[str] = field(default_factory=list)
    conn: http.client.HTTPConnection | None = None
    resp: http.client.HTTPResponse | None = None

    def iter_data(self) -> Iterator[str]:
        assert self.resp is not None
        buf: list[str] = []
        while True:
            line = self.resp.readline()
            if not line:
                if buf:
                    yield "\n".join(buf)
                return
            text = line.decode().rstrip("\r\n")
            if text == "":
                if buf:
                    data = "\n".join(buf)
                    buf = []
                    self.events.append(data)
                    yield data
                continue
            if text.startswith("data:"):
                buf.append(text[5:].lstrip(" "))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def open_sse(gw: Gateway, body: dict, headers: dict[str, str] | None = None, timeout: float = 30.0) -> SSEStream:
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=timeout)
    hdrs = {
        "authorization": f"Bearer {gw.master_key}",
        "content-type": "application/json",
        "accept": "text/event-stream",
        **(headers or {}),
    }
    conn.request("POST", "/v1/chat/completions", body=json.dumps(body).encode(), headers=hdrs)
    resp = conn.getresponse()
    return SSEStream(resp.status, {k.lower(): v for k, v in resp.getheaders()}, conn=conn, resp=resp)
