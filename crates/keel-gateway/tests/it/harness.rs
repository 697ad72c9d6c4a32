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
    let upstream = FakeUpstream::start().await;
    let data_dir = std::env::temp_dir().join(format!("keel-gw-test-{}", uuid::Uuid::now_v7()));
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
        self.running.shutdown();
        self.running.wait().await.unwrap();
        let store = keel_store::open(None, &self.data_dir, Durability::Batched)
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
        let _ = std::fs::remove_dir_all(&self.data_dir);
        (records, self.upstream)
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

pub fn user(content: &str) -> serde_json::Value {
    serde_json::json!([{"role": "user", "content": content}])
}
