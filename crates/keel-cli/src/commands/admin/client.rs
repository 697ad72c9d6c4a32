//! The admin API client every admin command uses: one base URL, one key,
//! JSON in and out, and the server's error message shown as it was sent.

use clap::Args;
use serde_json::Value;

/// Where the admin API is and which key to call it with.
#[derive(Args, Clone)]
pub struct Connection {
    /// Keel's address.
    #[arg(
        long,
        env = "KEEL_URL",
        default_value = "http://127.0.0.1:4000",
        global = true
    )]
    pub url: String,
    /// An admin (or user) key; falls back to KEEL_MASTER_KEY.
    #[arg(long, env = "KEEL_API_KEY", global = true, hide_env_values = true)]
    pub api_key: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// A connected client.
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Client {
    /// A client for `conn`; the key comes from `--api-key`,
    /// `KEEL_API_KEY` or `KEEL_MASTER_KEY`.
    pub fn new(conn: &Connection) -> Result<Client, String> {
        Client::to(&conn.url, conn.api_key.clone())
    }

    /// A client for Keel at `url` with `key` (else `KEEL_MASTER_KEY`).
    pub fn to(url: &str, key: Option<String>) -> Result<Client, String> {
        let key = key
            .or_else(|| std::env::var("KEEL_MASTER_KEY").ok())
            .filter(|k| !k.is_empty())
            .ok_or("no key: pass --api-key or set KEEL_API_KEY (or KEEL_MASTER_KEY)")?;
        Ok(Client {
            http: reqwest::Client::new(),
            base: format!("{}/admin/v1", url.trim_end_matches('/')),
            key,
        })
    }

    /// `GET path?query`.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, String> {
        self.try_get(path, query).await.map_err(|e| e.to_string())
    }

    /// `GET path?query`, telling an unreachable server from an error answer.
    pub async fn try_get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, CallError> {
        self.call(self.http.get(self.url(path)).query(query)).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, String> {
        self.send(self.http.post(self.url(path)).body(body.to_string()))
            .await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value, String> {
        self.send(self.http.patch(self.url(path)).body(body.to_string()))
            .await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, String> {
        self.send(self.http.put(self.url(path)).body(body.to_string()))
            .await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, String> {
        self.call(request).await.map_err(|e| e.to_string())
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value, CallError> {
        let response = request
            .bearer_auth(&self.key)
            .header("content-type", "application/json")
            .send()
            .await
            .map_err(|e| {
                let message = format!("cannot reach Keel at {}: {e}", self.base);
                match e.is_connect() {
                    true => CallError::Unreachable(message),
                    false => CallError::Failed(message),
                }
            })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| CallError::Failed(format!("reading the answer: {e}")))?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status.is_success() {
            return Ok(body);
        }
        let message = body["error"]["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| body.to_string());
        Err(CallError::Failed(format!(
            "{message} (HTTP {})",
            status.as_u16()
        )))
    }
}

/// Why an admin call failed.
#[derive(Debug)]
pub enum CallError {
    /// Nothing answers at the URL (Keel is not running there).
    Unreachable(String),
    /// Keel answered with an error, or the exchange broke.
    Failed(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Unreachable(m) | CallError::Failed(m) => f.write_str(m),
        }
    }
}

/// Path segment escaping for names used in URLs (team names, emails, models).
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'@' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
