//! Start-up refusals, SIGTERM drain, and `keel logs`.

use std::process::Command;
use std::time::Duration;

use futures_util::StreamExt;
use keel_testkit::FakeUpstream;

use crate::process::*;

#[test]
fn a_bad_config_stops_start_up_naming_the_line() {
    let dir = temp_dir("bad-config");
    let config = dir.join("keel.toml");
    std::fs::write(&config, "[server]\nport = 4000\n\n[[providers]]\nname = \"x\"\nbase_url = \"http://127.0.0.1:1/v1\"\napi_key = \"env:KEEL_TEST_UNSET_VAR\"\nmodels = [\"m\"]\n").unwrap();
    let out = Command::new(KEEL)
        .args(["serve", "--port", "0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("keel.toml:7: providers[0].api_key: environment variable KEEL_TEST_UNSET_VAR is not set"),
        "{err}"
    );
}

#[test]
fn a_schema_newer_than_the_binary_stops_start_up() {
    let dir = temp_dir("schema-new");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let db = data.join("keel.db");
    let status = Command::new("sqlite3")
        .arg(&db)
        .arg("CREATE TABLE keel_schema_migrations (version BIGINT PRIMARY KEY NOT NULL, name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL); INSERT INTO keel_schema_migrations VALUES (1,'invocations',0),(42,'future',0);")
        .status();
    if status.map(|s| !s.success()).unwrap_or(true) {
        // Without the sqlite3 shell, write the row through keel's own store API instead.
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let store = keel_store::open(None, &data, keel_store::Durability::Batched)
                .await
                .unwrap();
            store.close().await;
        });
        let status = Command::new("python3")
            .args(["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"INSERT INTO keel_schema_migrations VALUES (42,'future',0)\"); c.commit()"])
            .arg(&db)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let out = Command::new(KEEL)
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(&data)
        .env("KEEL_MASTER_KEY", KEY)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("database schema version 42 is newer than this keel supports (3)"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_streams_and_stores_every_record() {
    let upstream = FakeUpstream::start().await;
    let dir = temp_dir("sigterm");
    let config = write_config(&dir, &upstream.base_url(), "");
    let keel = Keel::start(&dir, &config);
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(keel.call("fake-chat", false).await.expect("answered"));
    }
    // A slow stream (20 ms between events) in flight when SIGTERM arrives.
    let body = serde_json::json!({"model": "fault-slow-stream", "stream": true,
        "messages": [{"role": "user", "content": "one two three four five six seven eight nine ten"}]});
    let resp = keel
        .client
        .post(format!("{}/v1/chat/completions", keel.url))
        .bearer_auth(KEY)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let stream_id = resp.headers()["x-keel-invocation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut events = resp.bytes_stream();
    let mut text = events.next().await.unwrap().unwrap().to_vec();
    keel.terminate();
    while let Some(chunk) = events.next().await {
        text.extend_from_slice(&chunk.unwrap());
    }
    assert!(
        text.ends_with(b"data: [DONE]\n\n"),
        "the in-flight stream completes"
    );
    ids.push(stream_id.clone());
    let url = keel.url.clone();
    let (code, log) = tokio::task::spawn_blocking(move || keel.wait())
        .await
        .unwrap();
    assert_eq!(code, Some(0), "clean exit: {log:?}");
    assert!(reqwest::Client::new()
        .get(format!("{url}/health/live"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .is_err());
    let records = log_records(&dir, &[]);
    for id in &ids {
        assert_eq!(
            records.iter().filter(|r| r["id"] == id.as_str()).count(),
            1,
            "{id} has its record"
        );
    }
    let stream = records
        .iter()
        .find(|r| r["id"] == stream_id.as_str())
        .unwrap();
    assert_eq!(stream["outcome"], "ok");
    assert!(stream["output_tokens"].as_i64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keel_logs_lists_filters_and_shows() {
    let upstream = FakeUpstream::start().await;
    let dir = temp_dir("logs");
    let config = write_config(
        &dir,
        &upstream.base_url(),
        "[prices.\"fake-chat\"]\ninput = 1.0\noutput = 2.0\n",
    );
    let keel = Keel::start(&dir, &config);
    let ok = keel.call("fake-chat", false).await.unwrap();
    let _ = keel.call("fake-chat", true).await.unwrap();
    assert!(keel.call("fault-500", false).await.is_none());
    keel.terminate();
    let (code, _) = tokio::task::spawn_blocking(move || keel.wait())
        .await
        .unwrap();
    assert_eq!(code, Some(0));

    assert_eq!(log_records(&dir, &[]).len(), 3);
    let errors = log_records(&dir, &["--status", "error"]);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["status"], 500);
    assert_eq!(log_records(&dir, &["--status", "500"]).len(), 1);
    assert_eq!(log_records(&dir, &["--model", "fault-500"]).len(), 1);
    assert_eq!(log_records(&dir, &["--since", "1h"]).len(), 3);
    assert_eq!(
        log_records(&dir, &["--until", "2000-01-01T00:00:00Z"]).len(),
        0
    );
    assert_eq!(
        log_records(&dir, &["--limit", "1"]).len(),
        1,
        "--limit applies"
    );
    let listed = log_records(&dir, &["--model", "fake-chat"]);
    assert!(
        listed.iter().all(|r| r.get("request_body").is_none()),
        "listings leave bodies out"
    );
    let trace = listed[0]["trace_id"].as_str().unwrap();
    assert_eq!(log_records(&dir, &["--trace", trace]).len(), 1);

    let shown = logs(&dir, &["show", &ok, "--json"]);
    let shown: serde_json::Value = serde_json::from_str(&shown[0]).unwrap();
    assert_eq!(shown["request_body"]["model"], "fake-chat");
    assert_eq!(shown["response_body"]["object"], "chat.completion");
    assert!(shown["cost_usd"].as_f64().unwrap() > 0.0);
    let tries = shown["attempt_list"].as_array().unwrap();
    assert_eq!(tries.len(), 1, "{shown}");
    assert_eq!(tries[0]["status"], 200);
    assert!(
        !logs(&dir, &["show", &ok]).iter().any(|l| l == "attempts:"),
        "a call answered first time lists no attempts"
    );
    let failed = logs(&dir, &["show", errors[0]["id"].as_str().unwrap()]);
    let at = failed.iter().position(|l| l == "attempts:").unwrap();
    assert!(failed[at + 1].contains("status=500"), "{failed:?}");

    let table = logs(&dir, &[]);
    assert!(table[0].starts_with("TIME"));
    assert_eq!(table.len(), 4);
    assert!(table.iter().any(|l| l.contains("upstream_status")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keel_logs_asks_the_running_keel_and_reads_the_store_once_it_is_gone() {
    let upstream = FakeUpstream::start().await;
    let dir = temp_dir("logs-api");
    let config = write_config(&dir, &upstream.base_url(), "");
    let keel = Keel::start(&dir, &config);
    let ok = keel.call("fake-chat", false).await.unwrap();
    assert!(keel.call("fault-500", false).await.is_none());
    // An empty directory: anything listed now came through the API.
    let elsewhere = dir.join("elsewhere");
    let json = |args: &[&str]| -> Vec<serde_json::Value> {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        logs_at(&keel.url, &elsewhere, &all)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let mut listed = Vec::new();
    for _ in 0..500 {
        listed = json(&[]);
        if listed.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(json(&["--status", "500"]).len(), 1);
    assert_eq!(json(&["--model", "fake-chat"])[0]["id"], ok.as_str());
    let shown: serde_json::Value =
        serde_json::from_str(&logs_at(&keel.url, &elsewhere, &["show", &ok, "--json"])[0]).unwrap();
    assert_eq!(shown["request_body"]["model"], "fake-chat");
    let failed_id = json(&["--status", "error"])[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let failed = logs_at(&keel.url, &elsewhere, &["show", &failed_id]);
    let at = failed.iter().position(|l| l == "attempts:").unwrap();
    assert!(failed[at + 1].contains("status=500"), "{failed:?}");
    let table = logs_at(&keel.url, &elsewhere, &[]);
    assert!(table[0].starts_with("TIME"));
    assert_eq!(table.len(), 3);
    assert!(table.iter().any(|l| l.contains(&ok)));

    let url = keel.url.clone();
    keel.terminate();
    let (code, _) = tokio::task::spawn_blocking(move || keel.wait())
        .await
        .unwrap();
    assert_eq!(code, Some(0));
    // Nothing answers at the URL now: the store in the data dir is read.
    let stored = logs_at(&url, &dir.join("data"), &["--json"]);
    assert_eq!(stored.len(), 2);
}
