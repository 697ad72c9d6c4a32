//! The fake Bedrock runtime against Keel's real Bedrock client pieces: the
//! provider signs (aws-sigv4), keel-api translates and decodes the event
//! stream. The fake shares none of that code, so these tests check both
//! sides against each other.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use keel_api::bedrock::eventstream::{Decoder, Message};
use keel_api::bedrock::{from_openai, to_openai};
use keel_providers::bedrock::{Auth, BedrockProvider, BedrockSettings, Credentials};
use keel_providers::{CallSpec, Operation, Provider};
use keel_testkit::{
    FakeUpstream, BEDROCK_ACCESS_KEY_ID, BEDROCK_API_KEY, BEDROCK_REGION,
    BEDROCK_SECRET_ACCESS_KEY, CUT_REPLY, TOOL_CALL_TOKENS,
};
use secrecy::SecretString;
use serde_json::{json, Value};

/// A response: the body bytes that arrived, and the error that broke the
/// body, if it broke.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    broken: Option<String>,
}

impl Reply {
    fn json(&self) -> Value {
        assert!(self.broken.is_none(), "{:?}", self.broken);
        serde_json::from_slice(&self.body).unwrap()
    }

    fn header(&self, name: &str) -> &str {
        self.headers[name].to_str().unwrap()
    }
}

fn keys(secret: &str, token: Option<&str>) -> Auth {
    Auth::SigV4(Credentials {
        access_key_id: BEDROCK_ACCESS_KEY_ID.into(),
        secret_access_key: SecretString::from(secret),
        session_token: token.map(SecretString::from),
    })
}

fn provider(upstream: &FakeUpstream, auth: Auth) -> BedrockProvider {
    let mut settings = BedrockSettings::new("bedrock", BEDROCK_REGION);
    settings.base_url = Some(upstream.root_url());
    BedrockProvider::new(settings, auth).unwrap()
}

/// Sends `body` (already a Converse body) for `model` as `provider` builds it.
async fn send(provider: &BedrockProvider, model: &str, stream: bool, body: &Value) -> Reply {
    send_raw(provider, model, stream, body.to_string().into_bytes(), None).await
}

/// Like [`send`], optionally replacing the body after signing.
async fn send_raw(
    provider: &BedrockProvider,
    model: &str,
    stream: bool,
    body: Vec<u8>,
    tampered: Option<Vec<u8>>,
) -> Reply {
    let headers = HeaderMap::new();
    let call = CallSpec {
        operation: Operation::ChatCompletions,
        upstream_model: model,
        stream,
        client_headers: &headers,
    };
    let up = provider.request(call, Bytes::from(body)).unwrap();
    let mut req = Request::builder().method(up.method).uri(&up.url);
    for (name, value) in &up.headers {
        req = req.header(name, value);
    }
    let body = tampered.map(Bytes::from).unwrap_or(up.body);
    let resp = common::client()
        .request(req.body(Full::new(body)).unwrap())
        .await
        .unwrap();
    let (parts, mut body) = resp.into_parts();
    let mut bytes = Vec::new();
    let mut broken = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => bytes.extend_from_slice(frame.data_ref().map_or(&[][..], |d| d.as_ref())),
            Err(e) => {
                broken = Some(e.to_string());
                break;
            }
        }
    }
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: Bytes::from(bytes),
        broken,
    }
}

/// The Converse body Keel sends for an OpenAI request.
fn converse(openai: Value) -> Value {
    from_openai::request(&openai).unwrap()
}

fn decode(bytes: &[u8]) -> Result<Vec<Message>, String> {
    let mut decoder = Decoder::new(1 << 20);
    let mut out = Vec::new();
    for piece in bytes.chunks(5) {
        decoder.feed(piece, &mut out).map_err(|e| e.to_string())?;
    }
    decoder.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

/// Translated chunks of a stream, as JSON.
fn chunks(messages: &[Message]) -> Vec<Value> {
    let mut t = to_openai::StreamTranslator::new("m", 1, true);
    let mut out = Vec::new();
    for m in messages {
        t.on_message(m, &mut out).unwrap();
    }
    t.finish(&mut out).unwrap();
    out.iter()
        .map(|c| serde_json::from_slice(c).unwrap())
        .collect()
}

#[tokio::test]
async fn converse_echoes_and_counts_like_the_openai_fake() {
    let upstream = FakeUpstream::start().await;
    let p = provider(&upstream, keys(BEDROCK_SECRET_ACCESS_KEY, None));
    let body = converse(json!({"model": "m", "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": [{"type": "text", "text": "hello   big"}, {"type": "text", "text": "world"}]}
    ]}));
    let reply = send(&p, "anthropic.claude-3-haiku-20240307-v1:0", false, &body).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.header("content-type"), "application/json");
    let v = reply.json();
    assert_eq!(
        v["output"]["message"],
        json!({"role": "assistant", "content": [{"text": "Echo: hello big world"}]})
    );
    assert_eq!(v["stopReason"], "end_turn");
    // (3 words + 3) for the system block + (3 + 3) for the user turn.
    assert_eq!(
        v["usage"],
        json!({"inputTokens": 12, "outputTokens": 4, "totalTokens": 16})
    );
    let openai = to_openai::response(&v, "m").unwrap();
    assert_eq!(
        openai["choices"][0]["message"]["content"],
        "Echo: hello big world"
    );
    assert_eq!(openai["usage"]["prompt_tokens"], 12);
    let recorded = upstream.requests();
    assert_eq!(
        recorded[0].path,
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    );
    assert!(recorded[0]
        .header("authorization")
        .unwrap()
        .starts_with("AWS4-HMAC-SHA256 Credential=AKIAKEELFAKEBEDROCK1/"));
    assert_eq!(recorded[0].body, body);
}

#[tokio::test]
async fn stop_sequences_max_tokens_and_cached_usage() {
    let upstream = FakeUpstream::start().await;
    let p = provider(&upstream, keys(BEDROCK_SECRET_ACCESS_KEY, Some("session")));
    let msgs = json!([{"role": "user", "content": "one two three four"}]);
    let v = send(
        &p,
        "fake-cached",
        false,
        &converse(json!({"model": "m", "messages": msgs, "max_tokens": 2})),
    )
    .await
    .json();
    assert_eq!(v["output"]["message"]["content"][0]["text"], "Echo: one");
    assert_eq!(v["stopReason"], "max_tokens");
    assert_eq!(
        v["usage"],
        json!({"inputTokens": 4, "outputTokens": 2, "totalTokens": 9,
            "cacheReadInputTokens": 3, "cacheWriteInputTokens": 0})
    );
    let openai = to_openai::response(&v, "m").unwrap();
    assert_eq!(openai["usage"]["prompt_tokens"], 7);
    assert_eq!(openai["usage"]["prompt_tokens_details"]["cached_tokens"], 3);
    let v = send(
        &p,
        "m",
        false,
        &converse(json!({"model": "m", "messages": msgs, "stop": "three"})),
    )
    .await
    .json();
    assert_eq!(
        v["output"]["message"]["content"][0]["text"],
        "Echo: one two"
    );
    assert_eq!(v["stopReason"], "stop_sequence");
}

#[tokio::test]
async fn tool_config_gives_a_tool_use_from_the_schema() {
    let upstream = FakeUpstream::start().await;
    let p = provider(&upstream, keys(BEDROCK_SECRET_ACCESS_KEY, None));
    let tool = |name: &str| {
        json!({"type": "function", "function": {"name": name, "parameters": {
        "type": "object", "properties": {"sign": {"type": "string"}, "n": {"type": "integer"}},
        "required": ["sign", "n"]}}})
    };
    let body = converse(json!({"model": "m",
        "messages": [{"role": "user", "content": "What is the most popular song on WZPZ?"}],
        "tools": [tool("first"), tool("top_song")],
        "tool_choice": {"type": "function", "function": {"name": "top_song"}}}));
    let v = send(&p, "m", false, &body).await.json();
    let block = &v["output"]["message"]["content"][0]["toolUse"];
    assert_eq!(block["name"], "top_song");
    assert_eq!(block["input"], json!({"sign": "fake", "n": 0}));
    assert!(block["toolUseId"].as_str().unwrap().starts_with("tooluse_"));
    assert_eq!(v["stopReason"], "tool_use");
    assert_eq!(v["usage"]["outputTokens"], TOOL_CALL_TOKENS);
    let openai = to_openai::response(&v, "m").unwrap();
    assert_eq!(openai["choices"][0]["finish_reason"], "tool_calls");

    // The round trip: the tool result travels back with the tools.
    let id = block["toolUseId"].as_str().unwrap();
    let body = converse(
        json!({"model": "m", "tools": [tool("top_song")], "messages": [
            {"role": "user", "content": "What is the most popular song on WZPZ?"},
            {"role": "assistant", "tool_calls": [{"id": id, "type": "function",
                "function": {"name": "top_song", "arguments": "{\"sign\":\"WZPZ\",\"n\":1}"}}]},
            {"role": "tool", "tool_call_id": id, "content": "Elemental Hotel"}
        ]}),
    );
    let reply = send(&p, "m", false, &body).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
}

#[tokio::test]
async fn converse_stream_frames_events_the_decoder_reads() {
    let upstream = FakeUpstream::start().await;
    let p = provider(&upstream, keys(BEDROCK_SECRET_ACCESS_KEY, None));
    let body = converse(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi there"}], "stream": true}),
    );
    let reply = send(&p, "m", true, &body).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        "application/vnd.amazon.eventstream"
    );
    let messages = decode(&reply.body).unwrap();
    let kinds: Vec<&str> = messages.iter().map(|m| m.event_type().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "messageStart",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata"
        ]
    );
    assert!(messages.iter().all(|m| m.message_type() == Some("event")
        && m.header_str(":content-type") == Some("application/json")));
    let chunks = chunks(&messages);
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Echo: hi there");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["prompt_tokens"], 5);
    assert_eq!(last["usage"]["completion_tokens"], 3);
    assert!(
        upstream
            .wait_streams_completed(1, std::time::Duration::from_secs(5))
            .await
    );
}

#[tokio::test]
async fn streamed_tool_use_reassembles_into_arguments() {
    let upstream = FakeUpstream::start().await;
    let p = provider(&upstream, Auth::ApiKey(SecretString::from(BEDROCK_API_KEY)));
    let body = converse(
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object",
            "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
            "required": ["query", "limit"]}}}]}),
    );
    let reply = send(&p, "m", true, &body).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let chunks = chunks(&decode(&reply.body).unwrap());
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    assert_eq!(calls[0]["function"]["name"], "lookup");
    let arguments: String = calls
        .iter()
        .filter_map(|c| c["function"]["arguments"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&arguments).unwrap(),
        json!({"query": "fake", "limit": 0})
    );
    let finish = chunks
        .iter()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str());
    assert_eq!(finish, Some("tool_calls"));
}

#[tokio::test]
async fn signatures_are_verified() {
    let upstream = FakeUpstream::start().await;
    let body = converse(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}));
    let wrong = provider(&upstream, keys("not-the-secret", None));
    let reply = send(&wrong, "m", false, &body).await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.header("x-amzn-errortype"),
        "InvalidSignatureException"
    );
    let message = reply.json()["message"].as_str().unwrap().to_owned();
    assert!(message.starts_with("The request signature we calculated does not match"));
    assert!(
        message.contains("content-type;host;x-amz-date"),
        "{message}"
    );
    let (status, openai) =
        to_openai::error(403, Some(reply.header("x-amzn-errortype")), &reply.body);
    let openai: Value = serde_json::from_slice(&openai).unwrap();
    assert_eq!(
        (status, openai["error"]["code"].as_str()),
        (403, Some("InvalidSignatureException"))
    );

    let right = provider(&upstream, keys(BEDROCK_SECRET_ACCESS_KEY, None));
    let signed = body.to_string().into_bytes();
    let mut tampered = signed.clone();
    tampered.push(b' ');
    let reply = send_raw(&right, "m", false, signed, Some(tampered)).await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.header("x-amzn-errortype"),
        "InvalidSignatureException"
    );

    let bad_key = provider(&upstream, Auth::ApiKey(SecretString::from("ABSK-wrong")));
    let reply = send(&bad_key, "m", false, &body).await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.header("x-amzn-errortype"),
        "UnrecognizedClientException"
    );

    let reply = common::send(
        "POST",
        &format!("{}/model/m/converse", upstream.root_url()),
        Some("{}"),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.headers["x-amzn-errortype"],
        "MissingAuthenticationTokenException"
    );

    let other_region = {
        let mut settings = BedrockSettings::new("bedrock", "eu-west-1");
        settings.base_url = Some(upstream.root_url());
        BedrockProvider::new(settings, keys(BEDROCK_SECRET_ACCESS_KEY, None)).unwrap()
    };
    assert_eq!(send(&other_region, "m", false, &body).await.status, 403);
}

#[tokio::test]
async fn requests_bedrock_would_refuse_are_refused() {
    let upstream = FakeUpstream::start().await;
    let p = provider(&upstream, keys(BEDROCK_SECRET_ACCESS_KEY, None));
    let user = json!({"role": "user", "content": [{"text": "hi"}]});
    for (body, needle) in [
        (
            json!({"modelId": "m", "messages": [user]}),
            "extraneous key [modelId]",
        ),
        (json!({"messages": [user, user]}), "alternate"),
        (
            json!({"messages": [{"role": "assistant", "content": [{"text": "hi"}]}]}),
            "start with a user message",
        ),
        (
            json!({"messages": [user, {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t", "name": "f", "input": {}}}]}]}),
            "toolConfig field must be defined",
        ),
        (json!({"messages": []}), "start with a user message"),
    ] {
        let reply = send(&p, "m", false, &body).await;
        assert_eq!(reply.status, 400, "{body}");
        assert_eq!(reply.header("x-amzn-errortype"), "ValidationException");
        let message = reply.json()["message"].as_str().unwrap().to_owned();
        assert!(message.contains(needle), "{message}");
    }
}

#[tokio::test]
async fn fault_models_answer_in_bedrocks_error_shape() {
    let upstream = FakeUpstream::start().await;
    let p = provider(&upstream, keys(BEDROCK_SECRET_ACCESS_KEY, None));
    let body = converse(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}));
    for (model, status, kind) in [
        ("fault-500", 500, "InternalServerException"),
        ("fault-429", 429, "ThrottlingException"),
        ("fault-400", 400, "ValidationException"),
    ] {
        let reply = send(&p, model, false, &body).await;
        assert_eq!(reply.status, status, "{model}");
        assert_eq!(reply.header("x-amzn-errortype"), kind);
        assert!(reply.json()["message"].is_string());
        let (status, openai) = to_openai::error(status, Some(kind), &reply.body);
        let openai: Value = serde_json::from_slice(&openai).unwrap();
        assert_eq!(openai["error"]["code"], kind, "{status}");
    }
    let cut = send(&p, "fault-cut", false, &body).await;
    assert!(cut.broken.is_some() || serde_json::from_slice::<Value>(&cut.body).is_err());
}

#[tokio::test]
async fn broken_streams_break_as_announced() {
    let upstream = FakeUpstream::start().await;
    let p = provider(&upstream, keys(BEDROCK_SECRET_ACCESS_KEY, None));
    let body = converse(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}));
    let garbage = send(&p, "fault-garbage-stream", true, &body).await;
    assert_eq!(garbage.status, 200);
    let err = decode(&garbage.body).unwrap_err();
    assert!(err.contains("checksum"), "{err}");

    let cut = send(&p, "fault-cut", true, &body).await;
    assert_eq!(cut.status, 200);
    assert!(cut.broken.is_some(), "the connection drops mid-stream");
    // What arrived before the cut decodes: messageStart and three deltas of
    // the cut reply, and no messageStop, so the translator reports a cut.
    let messages = decode(&cut.body).unwrap();
    assert_eq!(messages.len(), 4);
    let mut t = to_openai::StreamTranslator::new("m", 1, false);
    let mut out = Vec::new();
    for m in &messages {
        t.on_message(m, &mut out).unwrap();
    }
    let text: String = out
        .iter()
        .map(|c| serde_json::from_slice::<Value>(c).unwrap())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert!(CUT_REPLY.starts_with(&text) && !text.is_empty(), "{text}");
    assert!(t.finish(&mut out).is_err());
}
