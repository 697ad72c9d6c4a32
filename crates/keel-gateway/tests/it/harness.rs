//! Starting a gateway in front of a fake upstream and reading its records.

use std::path::PathBuf;
use std::time::Duration;

pub use keel_gateway::config::{load, Overrides, ProviderConfig, ProviderKind, RawPrice};
use keel_gateway::server::{start, Running};
use keel_providers::openai::Flavor;
use keel_store::{Durability, Invocation, LogFilter};
use keel_testkit::FakeUpstream;
use secrecy::SecretString;

pub const KEY: &str = "test-master-key";

pub struct Gateway {
    pub running: Running,
    pub url: String,
    pub upstream: FakeUpstream,
    pub data_dir: PathBuf,
    pub client: reqwest::Client,
}

/// A gateway with provider `fake` (fake/fault models), provider `dead` (a
/// closed port) and a price for `fake-chat`.
pub async fn gateway() -> Gateway {
    gateway_with(|_| {}).await
}

pub async fn gateway_with(adjust: impl FnOnce(&mut keel_gateway::config::Config)) -> Gateway {
    let data_dir = std::env::temp_dir().join(format!("keel-gw-test-{}", uuid::Uuid::now_v7()));
    gateway_on(data_dir, adjust).await
}

/// As [`gateway_with`], on `data_dir` as an earlier gateway left it (see
/// [`Gateway::halt`]): a restart.
pub async fn gateway_on(
    data_dir: PathBuf,
    adjust: impl FnOnce(&mut keel_gateway::config::Config),
) -> Gateway {
    let upstream = FakeUpstream::start().await;
    let overrides = Overrides {
        port: Some(0),
        data_dir: Some(data_dir.clone()),
        ..Default::default()
    };
    let mut config = load(None, overrides, &|_| None).unwrap();
    config.master_key = Some(SecretString::from(KEY));
    config.writer.durability = Durability::Batched;
    config.executor.request_timeout = Duration::from_millis(1500);
    config.executor.stream_first_byte_timeout = Duration::from_millis(1500);
    config.providers = vec![
        provider("fake", &upstream.base_url(), &[], true),
        provider("dead", "http://127.0.0.1:9/v1", &["dead-model"], false),
    ];
    config.prices.insert(
        "fake-chat".into(),
        RawPrice {
            input: 1.0,
            output: 2.0,
            cached_input: Some(0.5),
            cache_write: None,
        },
    );
    adjust(&mut config);
    let running = start(config).await.unwrap();
    let url = format!("http://{}", running.addr);
    Gateway {
        running,
        url,
        upstream,
        data_dir,
        client: reqwest::Client::new(),
    }
}

pub fn provider(name: &str, base_url: &str, models: &[&str], discover: bool) -> ProviderConfig {
    ProviderConfig {
        name: name.into(),
        base_url: base_url.into(),
        api_key: Some(SecretString::from("sk-upstream")),
        kind: ProviderKind::OpenAi(Flavor::OpenAi),
        models: models.iter().map(|m| m.to_string()).collect(),
        discover,
        headers: vec![],
        stream_usage: true,
    }
}

/// A native Anthropic provider at `base_url` (the fake upstream's root).
pub fn anthropic_provider(name: &str, base_url: &str, models: &[&str]) -> ProviderConfig {
    ProviderConfig {
        api_key: Some(SecretString::from(keel_testkit::ANTHROPIC_API_KEY)),
        kind: ProviderKind::Anthropic {
            version: keel_providers::anthropic::DEFAULT_VERSION.into(),
        },
        ..provider(name, base_url, models, false)
    }
}

impl Gateway {
    /// `POST /v1/messages` as the Anthropic SDK sends it.
    pub async fn messages(&self, body: serde_json::Value) -> reqwest::Response {
        self.anthropic_post("/v1/messages", body, &[]).await
    }

    /// An Anthropic-style POST with extra headers.
    pub async fn anthropic_post(
        &self,
        path: &str,
        body: serde_json::Value,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self
            .client
            .post(format!("{}{path}", self.url))
            .header("x-api-key", KEY);
        if !headers.iter().any(|(k, _)| *k == "anthropic-version") {
            req = req.header("anthropic-version", "2023-06-01");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(body.to_string()).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: &str) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.url))
            .bearer_auth(KEY)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    pub async fn chat(&self, body: serde_json::Value) -> reqwest::Response {
        self.post("/v1/chat/completions", &body.to_string()).await
    }

    /// Stops the gateway (draining everything) and returns all its records,
    /// newest first.
    pub async fn stop(self) -> (Vec<Invocation>, FakeUpstream) {
        let (data_dir, upstream) = self.halt().await;
        let store = keel_store::open(None, &data_dir, Durability::Batched)
            .await
            .unwrap();
        let mut records = store
            .list(&LogFilter {
                limit: 10_000,
                ..Default::default()
            })
            .await
            .unwrap();
        for r in records.iter_mut() {
            *r = store.get(&r.id.to_string()).await.unwrap().unwrap();
        }
        store.close().await;
        let _ = std::fs::remove_dir_all(&data_dir);
        (records, upstream)
    }

    /// Stops the gateway (draining everything) and keeps its data dir, for
    /// [`gateway_on`] to start on it again.
    pub async fn halt(self) -> (PathBuf, FakeUpstream) {
        self.running.shutdown();
        self.running.wait().await.unwrap();
        (self.data_dir, self.upstream)
    }
}

/// The chat/embeddings calls the upstream received (discovery left out).
pub fn posts(upstream: &FakeUpstream) -> Vec<keel_testkit::RecordedRequest> {
    upstream
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect()
}

/// A header of a request the upstream received.
pub fn header_of(request: &keel_testkit::RecordedRequest, name: &str) -> Option<String> {
    request
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// The invocation id header of a response.
pub fn invocation_id(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("x-keel-invocation-id")
        .expect("every data-plane response names its invocation")
        .to_str()
        .unwrap()
        .to_owned()
}

/// The one record with `id`.
pub fn record<'a>(records: &'a [Invocation], id: &str) -> &'a Invocation {
    let found: Vec<_> = records.iter().filter(|r| r.id.to_string() == id).collect();
    assert_eq!(found.len(), 1, "exactly one record for {id}");
    found[0]
}

/// The `data` payloads of an SSE body.
pub fn sse_data(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|ev| {
            ev.lines()
                .find_map(|l| l.strip_prefix("data: "))
                .map(str::to_owned)
        })
        .collect()
}

/// The chunks of an OpenAI stream, which must end with `[DONE]`.
pub fn openai_chunks(body: &str) -> Vec<serde_json::Value> {
    let data = sse_data(body);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{body}");
    data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// The text the first choice of a stream's chunks adds up to.
pub fn chunk_text(chunks: &[serde_json::Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect()
}

/// Streams "one two three" from `provider`'s `fake-chat` to an OpenAI client
/// (with usage) and "four five" to an Anthropic client, checking what each
/// sees. Returns the OpenAI call's invocation id.
pub async fn stream_to_both_doors(gw: &Gateway, provider: &str) -> String {
    use serde_json::{json, Value};
    let model = format!("{provider}/fake-chat");
    let resp = gw
        .chat(json!({"model": model, "stream": true,
            "stream_options": {"include_usage": true}, "messages": user("one two three")}))
        .await;
    assert_eq!(resp.status(), 200);
    let id = invocation_id(&resp);
    let chunks = openai_chunks(&resp.text().await.unwrap());
    assert_eq!(chunk_text(&chunks), "Echo: one two three");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(
        (
            &last["usage"]["prompt_tokens"],
            &last["usage"]["completion_tokens"]
        ),
        (&json!(6), &json!(4))
    );
    let resp = gw
        .messages(json!({"model": model, "max_tokens": 64, "stream": true,
            "messages": [{"role": "user", "content": "four five"}]}))
        .await;
    let text = resp.text().await.unwrap();
    let events: Vec<Value> = sse_data(&text)
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let said: String = events
        .iter()
        .filter_map(|e| e["delta"]["text"].as_str())
        .collect();
    assert_eq!(said, "Echo: four five");
    assert_eq!(events.first().unwrap()["type"], "message_start");
    assert_eq!(events.last().unwrap()["type"], "message_stop");
    id
}

/// Asks `model` for the weather with one tool, then sends its tool call and
/// a result back (with `follow_up` merged into the second request). Returns
/// the call's id and the body the upstream received for the second turn.
pub async fn weather_round_trip(
    gw: &Gateway,
    model: &str,
    follow_up: serde_json::Value,
) -> (String, serde_json::Value) {
    use serde_json::{json, Value};
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
        "required": ["city"]}}}]);
    let body: Value = gw
        .chat(json!({"model": model, "tools": tools, "messages": user("weather?")}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls", "{body}");
    let call = body["choices"][0]["message"]["tool_calls"][0].clone();
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert!(args["city"].is_string(), "{args}");
    let call_id = call["id"].as_str().unwrap().to_owned();
    let mut second = json!({"model": model, "tools": tools, "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": null, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call_id, "content": "sunny"}]});
    if let (Some(second), Value::Object(extra)) = (second.as_object_mut(), follow_up) {
        second.extend(extra);
    }
    let resp = gw.chat(second).await;
    assert_eq!(resp.status(), 200);
    let sent = posts(&gw.upstream).last().unwrap().body.clone();
    (call_id, sent)
}

pub fn user(content: &str) -> serde_json::Value {
    serde_json::json!([{"role": "user", "content": content}])
}
