//! Running `keel serve` as a child process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use futures_util::StreamExt;

pub const KEY: &str = "process-test-key";
pub const KEEL: &str = env!("CARGO_BIN_EXE_keel");

/// A running `keel serve`.
pub struct Keel {
    pub child: Child,
    pub url: String,
    pub client: reqwest::Client,
    stderr: mpsc::Receiver<String>,
}

/// A fresh directory for one test.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("keel-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes a keel.toml in `dir` for the fake upstream at `upstream_url`.
pub fn write_config(dir: &Path, upstream_url: &str, extra: &str) -> PathBuf {
    let path = dir.join("keel.toml");
    let text = format!(
        "{extra}\n[[providers]]\nname = \"fake\"\nbase_url = \"{upstream_url}\"\ndiscover = true\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

impl Keel {
    /// Starts `keel serve` on a free port and waits until it listens.
    pub fn start(dir: &Path, config: &Path) -> Keel {
        let mut child = Command::new(KEEL)
            .args(["serve", "--port", "0", "--config"])
            .arg(config)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .env("KEEL_MASTER_KEY", KEY)
            .env("KEEL_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let url = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("keel prints where it listens");
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        // A bound on every call, so a wedged gateway fails the test instead of hanging it.
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Keel {
            child,
            url,
            client,
            stderr: rx,
        }
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit; returns its code and the rest of its log.
    pub fn wait(mut self) -> (Option<i32>, Vec<String>) {
        let status = self.child.wait().unwrap();
        let log: Vec<String> = self.stderr.try_iter().collect();
        (status.code(), log)
    }

    /// A caller for `url` without a process of its own (for tasks).
    pub fn shadow(url: &str, client: &reqwest::Client) -> Caller {
        Caller {
            url: url.to_owned(),
            client: client.clone(),
        }
    }

    /// One chat call to `fake-chat`.
    pub async fn call(&self, model: &str, stream: bool) -> Option<String> {
        Keel::shadow(&self.url, &self.client)
            .call_model(model, stream)
            .await
    }
}

/// Makes calls to a running Keel.
pub struct Caller {
    url: String,
    client: reqwest::Client,
}

impl Caller {
    pub async fn call_with(&self, stream: bool) -> Option<String> {
        self.call_model("fake-chat", stream).await
    }

    /// One chat call; returns the invocation id once the whole answer arrived.
    pub async fn call_model(&self, model: &str, stream: bool) -> Option<String> {
        let body = serde_json::json!({"model": model, "stream": stream,
            "messages": [{"role": "user", "content": "a few words to echo back"}]});
        let resp = self
            .client
            .post(format!("{}/v1/chat/completions", self.url))
            .bearer_auth(KEY)
            .body(body.to_string())
            .send()
            .await
            .ok()?;
        if resp.status() != 200 {
            return None;
        }
        let id = resp
            .headers()
            .get("x-keel-invocation-id")?
            .to_str()
            .ok()?
            .to_owned();
        let mut body = resp.bytes_stream();
        let mut text = Vec::new();
        while let Some(chunk) = body.next().await {
            text.extend_from_slice(&chunk.ok()?);
        }
        let complete = if stream {
            text.ends_with(b"data: [DONE]\n\n")
        } else {
            !text.is_empty()
        };
        complete.then_some(id)
    }
}

/// Runs `keel logs …` against `dir`'s data and returns its stdout lines.
pub fn logs(dir: &Path, args: &[&str]) -> Vec<String> {
    logs_at("http://127.0.0.1:9", &dir.join("data"), args)
}

/// Runs `keel logs …` asking Keel at `url` (with the master key), with
/// `data_dir` as the store to read when nothing answers there.
pub fn logs_at(url: &str, data_dir: &Path, args: &[&str]) -> Vec<String> {
    let out = Command::new(KEEL)
        .arg("logs")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--url", url])
        .env("KEEL_MASTER_KEY", KEY)
        .env_remove("KEEL_API_KEY")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "keel logs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `keel logs --json` parsed.
pub fn log_records(dir: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["--json"];
    if !args.contains(&"--limit") {
        all.extend_from_slice(&["--limit", "100000"]);
    }
    all.extend_from_slice(args);
    logs(dir, &all)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
