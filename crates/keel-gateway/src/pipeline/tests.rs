//! Exactly one record per call, whatever ends it: a stage that panics, and
//! a call dropped without an ending. The panic is injected through a model
//! name only test builds act on.

use std::sync::Arc;

use keel_store::{Durability, Invocation, LogFilter, Outcome};
use secrecy::SecretString;

use super::request::Request;
use crate::config::{load, Overrides};
use crate::server::{start, Running};
use crate::state::AppState;

/// A model name that makes the policy stage panic in test builds.
const PANIC_MODEL: &str = "test-panic-in-policy";

/// Called by the policy stage in test builds.
pub(super) fn maybe_panic(request: &Request<'_>) {
    if request.model() == PANIC_MODEL {
        std::panic::panic_any("a stage panicked on purpose");
    }
}

async fn gateway(data_dir: &std::path::Path) -> Running {
    let overrides = Overrides {
        port: Some(0),
        data_dir: Some(data_dir.to_owned()),
        ..Default::default()
    };
    let mut config = load(None, overrides, &|_| None).unwrap();
    config.master_key = Some(SecretString::from("k"));
    config.writer.durability = Durability::Batched;
    start(config).await.unwrap()
}

/// Stops the gateway and reads every record it wrote.
async fn records(running: Running, data_dir: &std::path::Path) -> Vec<Invocation> {
    running.shutdown();
    running.wait().await.unwrap();
    let store = keel_store::open(None, data_dir, Durability::Batched)
        .await
        .unwrap();
    let records = store.list(&LogFilter::default()).await.unwrap();
    store.close().await;
    let _ = std::fs::remove_dir_all(data_dir);
    records
}

fn data_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("keel-spine-{}", uuid::Uuid::now_v7()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_stage_leaves_one_internal_error_record() {
    let dir = data_dir();
    let running = gateway(&dir).await;
    let resp = reqwest::Client::new()
        .post(format!("http://{}/v1/chat/completions", running.addr))
        .bearer_auth("k")
        .body(format!(
            r#"{{"model":"{PANIC_MODEL}","messages":[{{"role":"user","content":"hi"}}]}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "server_error", "{body}");
    let records = records(running, &dir).await;
    assert_eq!(records.len(), 1, "exactly one record");
    let r = &records[0];
    assert_eq!(r.outcome, Outcome::InternalError);
    assert_eq!(r.status, 500);
    assert_eq!(r.error_class.as_deref(), Some("internal"));
    assert!(r
        .error_message
        .as_deref()
        .unwrap()
        .contains("ended without an answer"));
    assert_eq!(r.requested_model.as_deref(), Some(PANIC_MODEL));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_dropped_without_an_ending_is_recorded_once() {
    use crate::ingress::Ingress;
    use crate::invocation::{Call, CallGuard};
    use crate::trace::TraceContext;

    let dir = data_dir();
    let running = gateway(&dir).await;
    let state: Arc<AppState> = running.state.clone();
    let id = uuid::Uuid::now_v7();
    let trace = TraceContext::from_headers(&http::HeaderMap::new(), &id);
    let mut call = Call::start(
        keel_providers::Operation::ChatCompletions,
        Ingress::OpenAi,
        trace,
        id,
    );
    call.requested_model = Some("m".into());
    drop(CallGuard::new(state, call));
    let records = records(running, &dir).await;
    assert_eq!(records.len(), 1, "exactly one record");
    let r = &records[0];
    assert_eq!(r.id, id);
    assert_eq!(r.outcome, Outcome::InternalError);
    assert!(r.error_message.as_deref().unwrap().contains("dropped"));
}
