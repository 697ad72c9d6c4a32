//! The load generator's HTTP side: one raw HTTP/1.1 keep-alive connection per
//! virtual user (hyper 1 client connections, TCP_NODELAY), and helpers that
//! time whole responses and SSE streams.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Instant;

use bytes::Bytes;
use http::header::{HeaderName, AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

mod sse;

use sse::EventReader;

/// Errors of the load generator; only counted, never fatal.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where requests go: the fake upstream directly, the bare proxy, or Keel
/// in front of it.
#[derive(Debug, Clone)]
pub struct Target {
    /// `direct`, `proxy`, `keel`, or `keel messages` (Keel's Anthropic endpoint).
    pub label: &'static str,
    /// The process answering (the upstream for `direct`), for its CPU time
    /// and RSS.
    pub pid: Option<u32>,
    pub addr: SocketAddr,
    host: String,
    /// Path of the endpoint: chat completions, or messages (see [`Target::messages`]).
    pub path: String,
    /// Extra headers sent with every request (the API key).
    headers: Vec<(HeaderName, String)>,
}

impl Target {
    /// Parses `http://HOST:PORT[/prefix]`; the endpoint is
    /// `<prefix>/chat/completions`.
    pub fn parse(
        label: &'static str,
        base_url: &str,
        auth: Option<String>,
    ) -> Result<Self, String> {
        let rest = base_url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{base_url}: only http:// URLs are supported"))?;
        let (host, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let addr = host
            .to_socket_addrs()
            .map_err(|e| format!("{host}: {e}"))?
            .next()
            .ok_or_else(|| format!("{host}: no address"))?;
        let prefix = prefix.trim_end_matches('/');
        let path = if prefix.is_empty() {
            "/chat/completions".to_owned()
        } else {
            format!("/{prefix}/chat/completions")
        };
        Ok(Target {
            label,
            pid: None,
            addr,
            host: host.to_owned(),
            path,
            headers: auth.map(|a| (AUTHORIZATION, a)).into_iter().collect(),
        })
    }

    /// This target, answered by process `pid`.
    pub fn with_pid(self, pid: Option<u32>) -> Target {
        Target { pid, ..self }
    }

    /// The Anthropic Messages endpoint next to this target's chat completions
    /// (`<prefix>/messages`), authenticated the way Anthropic clients do
    /// (`x-api-key`, `anthropic-version`).
    pub fn messages(&self, label: &'static str, key: &str) -> Target {
        let prefix = self
            .path
            .strip_suffix("/chat/completions")
            .unwrap_or_default();
        Target {
            label,
            path: format!("{prefix}/messages"),
            headers: vec![
                (HeaderName::from_static("x-api-key"), key.to_owned()),
                (
                    HeaderName::from_static("anthropic-version"),
                    "2023-06-01".to_owned(),
                ),
            ],
            ..self.clone()
        }
    }

    /// A request with `body` to `path` on this target.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Bytes,
    ) -> Result<Request<Full<Bytes>>, BoxError> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, &self.host);
        if !body.is_empty() {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        for (name, value) in &self.headers {
            req = req.header(name, value);
        }
        Ok(req.body(Full::new(body))?)
    }
}

/// One keep-alive connection. Its driver task lives in `driver` and stops
/// when the connection is dropped.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    _driver: JoinSet<()>,
}

impl Conn {
    /// Opens a connection to `target` with TCP_NODELAY.
    pub async fn open(target: &Target) -> Result<Conn, BoxError> {
        let stream = TcpStream::connect(target.addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        let mut driver = JoinSet::new();
        driver.spawn(async move {
            let _ = connection.await;
        });
        Ok(Conn {
            sender,
            _driver: driver,
        })
    }

    /// Sends `req` and reads the whole body; returns the status.
    pub async fn call(&mut self, req: Request<Full<Bytes>>) -> Result<StatusCode, BoxError> {
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status();
        resp.into_body().collect().await?;
        Ok(status)
    }

    /// Sends `req` and returns the status and the whole body.
    pub async fn fetch(
        &mut self,
        req: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Bytes), BoxError> {
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status();
        Ok((status, resp.into_body().collect().await?.to_bytes()))
    }

    /// Sends a streaming request and times its SSE events.
    pub async fn stream(&mut self, req: Request<Full<Bytes>>) -> Result<StreamTiming, BoxError> {
        let sent = Instant::now();
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let headers_at = Instant::now();
        if resp.status() != StatusCode::OK {
            return Err(format!("status {}", resp.status()).into());
        }
        let mut body = resp.into_body();
        let mut events = EventReader::default();
        let mut timing = StreamTiming {
            sent,
            headers_at,
            first_event_at: None,
            last_event_at: sent,
            events: 0,
            first_delta_at: None,
            last_delta_at: sent,
            deltas: 0,
            max_gap_ns: 0,
            done: false,
        };
        while let Some(frame) = body.frame().await {
            let frame = frame?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            let now = Instant::now();
            let fed = events.feed(data);
            if fed.events == 0 {
                continue;
            }
            match timing.first_event_at {
                None => timing.first_event_at = Some(now),
                Some(_) => {
                    let gap = now.duration_since(timing.last_event_at).as_nanos() as u64;
                    timing.max_gap_ns = timing.max_gap_ns.max(gap);
                }
            }
            timing.last_event_at = now;
            timing.events += fed.events;
            if fed.deltas > 0 {
                timing.first_delta_at.get_or_insert(now);
                timing.last_delta_at = now;
                timing.deltas += fed.deltas;
            }
        }
        timing.done = events.saw_end;
        Ok(timing)
    }
}

/// When a stream's events arrived.
#[derive(Debug, Clone)]
pub struct StreamTiming {
    pub sent: Instant,
    pub headers_at: Instant,
    pub first_event_at: Option<Instant>,
    pub last_event_at: Instant,
    /// Complete SSE events received.
    pub events: usize,
    /// When the first and the last content delta arrived: OpenAI chunks
    /// with non-empty `delta.content`, Anthropic `content_block_delta`s.
    pub first_delta_at: Option<Instant>,
    pub last_delta_at: Instant,
    /// Content deltas received.
    pub deltas: usize,
    /// Longest wait between two frames that completed events.
    pub max_gap_ns: u64,
    /// Whether the stream's end arrived: `data: [DONE]` (OpenAI) or
    /// `event: message_stop` (Anthropic).
    pub done: bool,
}

impl StreamTiming {
    /// Send to first complete event, in nanoseconds.
    pub fn first_event_ns(&self) -> Option<u64> {
        self.first_event_at
            .map(|t| t.duration_since(self.sent).as_nanos() as u64)
    }

    /// Send to response headers, in nanoseconds.
    pub fn headers_ns(&self) -> u64 {
        self.headers_at.duration_since(self.sent).as_nanos() as u64
    }

    /// Mean time between events after the first, in nanoseconds.
    pub fn mean_gap_ns(&self) -> Option<f64> {
        let first = self.first_event_at?;
        (self.events > 1).then(|| {
            self.last_event_at.duration_since(first).as_nanos() as f64 / (self.events - 1) as f64
        })
    }

    /// Mean time between content deltas, in nanoseconds: the same upstream
    /// chunks in either API, whatever events each adds around them.
    pub fn mean_delta_gap_ns(&self) -> Option<f64> {
        let first = self.first_delta_at?;
        (self.deltas > 1).then(|| {
            self.last_delta_at.duration_since(first).as_nanos() as f64 / (self.deltas - 1) as f64
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_base_urls() {
        let t = Target::parse("direct", "http://127.0.0.1:8080/v1", None).unwrap();
        assert_eq!(t.path, "/v1/chat/completions");
        let t = Target::parse("keel", "http://127.0.0.1:9/", None).unwrap();
        assert_eq!(t.path, "/chat/completions");
        let t = Target::parse("keel", "http://127.0.0.1:9/v1", None).unwrap();
        let m = t.messages("keel messages", "k");
        assert_eq!(m.path, "/v1/messages");
    }
}
