//! AWS Bedrock (the fake's Converse API, checking SigV4) behind both front
//! doors.

use keel_gateway::config::Config;
use keel_testkit::{BEDROCK_ACCESS_KEY_ID, BEDROCK_REGION, BEDROCK_SECRET_ACCESS_KEY};
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::harness::*;

const BEDROCK_MODELS: &[&str] = &[
    "fake-chat",
    "fake-cached",
    "fault-429",
    "fault-cut",
    "fault-garbage-stream",
];

/// Adds provider `bedrock` (explicit keys) in front of the fake.
fn with_bedrock(c: &mut Config, secret: &str) {
    let base = c.providers[0].base_url.trim_end_matches("/v1").to_owned();
    let mut bedrock = provider("bedrock", &base, BEDROCK_MODELS, false);
    bedrock.api_key = None;
    bedrock.kind = ProviderKind::Bedrock {
        region: BEDROCK_REGION.into(),
        access_key_id: Some(BEDROCK_ACCESS_KEY_ID.into()),
        secret_access_key: Some(SecretString::from(secret)),
        session_token: None,
        profile: None,
    };
    c.providers.insert(0, bedrock);
}

async fn bedrock() -> Gateway {
    gateway_with(|c| with_bedrock(c, BEDROCK_SECRET_ACCESS_KEY)).await
}

#[tokio::test]
async fn an_openai_client_is_answered_by_bedrock_with_a_valid_signature() {
    let gw = bedrock().await;
    let resp = gw
        .chat(json!({"model": "bedrock/fake-cached", "max_tokens": 50,
            "messages": [{"role": "system", "content": "be brief"},
                         {"role": "user", "content": "hello over there"}]}))
        .await;
    assert_eq!(
        resp.status(),
        200,
        "the fake checked Keel's SigV4 signature"
    );
    let id = invocation_id(&resp);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Echo: hello over there"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    // (3 + 3) for the user turn + (2 + 3) for the system block = 11, of
    // which 5 are reported as cache reads; OpenAI's prompt_tokens has all.
    assert_eq!(body["usage"]["prompt_tokens"], 11);
    assert_eq!(body["usage"]["prompt_tokens_details"]["cached_tokens"], 5);
    assert_eq!(body["usage"]["completion_tokens"], 4);
    let (records, upstream) = gw.stop().await;
    let sent = &posts(&upstream)[0];
    assert_eq!(sent.path, "/model/fake-cached/converse");
    let auth = header_of(sent, "authorization").unwrap();
    assert!(
        auth.starts_with(&format!(
            "AWS4-HMAC-SHA256 Credential={BEDROCK_ACCESS_KEY_ID}/"
        )) && auth.contains("/us-east-1/bedrock/aws4_request"),
        "{auth}"
    );
    assert_eq!(sent.body["system"], json!([{"text": "be brief"}]));
    assert_eq!(sent.body["inferenceConfig"]["maxTokens"], 50);
    let r = record(&records, &id);
    assert_eq!(r.provider.as_deref(), Some("bedrock"));
    assert_eq!(
        (r.input_tokens, r.cached_tokens, r.output_tokens),
        (11, 5, 4)
    );
    let raw: Value = serde_json::from_str(r.raw_usage.as_deref().unwrap()).unwrap();
    assert_eq!(raw["cacheReadInputTokens"], 5, "Bedrock's own usage kept");
}

#[tokio::test]
async fn bedrock_event_streams_reach_both_kinds_of_client() {
    let gw = bedrock().await;
    let id = stream_to_both_doors(&gw, "bedrock").await;
    let (records, upstream) = gw.stop().await;
    assert_eq!(posts(&upstream)[0].path, "/model/fake-chat/converse-stream");
    let r = record(&records, &id);
    assert_eq!((r.input_tokens, r.output_tokens), (6, 4));
    assert!(r.raw_usage.as_deref().unwrap().contains("inputTokens"));
}

#[tokio::test]
async fn bedrock_tool_use_round_trips_with_its_ids() {
    let gw = bedrock().await;
    let (call_id, sent) = weather_round_trip(&gw, "bedrock/fake-chat", json!({})).await;
    assert!(call_id.starts_with("tooluse_"), "{call_id}");
    assert_eq!(
        sent["messages"][1]["content"][0]["toolUse"]["toolUseId"],
        call_id.as_str()
    );
    assert_eq!(
        sent["messages"][2]["content"][0]["toolResult"]["toolUseId"],
        call_id.as_str()
    );
    gw.stop().await;
}

#[tokio::test]
async fn bedrock_failures_reach_the_client_in_its_shape() {
    let gw = bedrock().await;
    let resp = gw
        .chat(json!({"model": "bedrock/fault-429", "messages": user("x")}))
        .await;
    assert_eq!(resp.status(), 429);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "ThrottlingException");
    let resp = gw
        .messages(json!({"model": "bedrock/fault-429", "max_tokens": 8,
            "messages": [{"role": "user", "content": "x"}]}))
        .await;
    assert_eq!(resp.status(), 429);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");
    for model in ["bedrock/fault-cut", "bedrock/fault-garbage-stream"] {
        let resp = gw
            .chat(json!({"model": model, "stream": true,
                "messages": user("one two three four five six")}))
            .await;
        let data = sse_data(&resp.text().await.unwrap());
        let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
        assert!(last["error"]["message"].is_string(), "{model}: {last}");
    }
    let (records, _) = gw.stop().await;
    assert!(records.iter().all(|r| r.outcome.as_str() != "ok"));

    let gw = gateway_with(|c| with_bedrock(c, "not-the-secret")).await;
    let resp = gw
        .chat(json!({"model": "bedrock/fake-chat", "messages": user("x")}))
        .await;
    assert_eq!(resp.status(), 502, "a refused signature is Keel's fault");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_auth");
    gw.stop().await;
}

#[tokio::test]
async fn credentials_come_from_the_container_endpoint_and_imds() {
    use keel_providers::bedrock::remote::RemoteSource;
    use keel_providers::bedrock::{Auth, BedrockProvider, BedrockSettings};
    use keel_providers::{CallSpec, Executor, Operation, Provider};
    use keel_testkit::aws_credentials as fake;
    use secrecy::ExposeSecret;

    let upstream = keel_testkit::FakeUpstream::start().await;
    let executor = Executor::new(keel_providers::ExecutorConfig::default()).unwrap();
    let container = RemoteSource::Container {
        url: format!("{}{}", upstream.root_url(), fake::CONTAINER_PATH),
        token_file: None,
        token: Some(fake::CONTAINER_TOKEN.into()),
    };
    let imds = RemoteSource::InstanceMetadata {
        endpoint: upstream.root_url(),
    };
    for source in [&container, &imds] {
        let fetched = keel_gateway::aws_credentials::fetch(&executor, source)
            .await
            .unwrap();
        assert_eq!(fetched.credentials.access_key_id, BEDROCK_ACCESS_KEY_ID);
        assert_eq!(
            fetched
                .credentials
                .session_token
                .as_ref()
                .unwrap()
                .expose_secret(),
            fake::SESSION_TOKEN
        );
        assert!(fetched.expiration.is_some());
    }
    let wrong_token = RemoteSource::Container {
        url: format!("{}{}", upstream.root_url(), fake::CONTAINER_PATH),
        token_file: None,
        token: Some("wrong".into()),
    };
    let err = keel_gateway::aws_credentials::fetch(&executor, &wrong_token)
        .await
        .unwrap_err();
    assert!(err.contains("401"), "{err}");

    // A provider with fetched credentials signs requests the fake accepts.
    let mut settings = BedrockSettings::new("bedrock", BEDROCK_REGION);
    settings.base_url = Some(upstream.root_url());
    let provider = std::sync::Arc::new(BedrockProvider::new(settings, Auth::Remote(imds)).unwrap());
    keel_gateway::aws_credentials::fetch_all(&executor, std::slice::from_ref(&provider))
        .await
        .unwrap();
    let headers = http::HeaderMap::new();
    let spec = CallSpec {
        operation: Operation::ChatCompletions,
        upstream_model: "fake-chat",
        stream: false,
        client_headers: &headers,
    };
    let body = json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]});
    let request = provider
        .request(spec, bytes::Bytes::from(body.to_string()))
        .unwrap();
    assert_eq!(request.headers["x-amz-security-token"], fake::SESSION_TOKEN);
    let response = executor
        .send(request, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the fake accepted the signature");
}
