//! The one place that talks HTTP to upstreams: a pooled client, timeouts, and
//! the classification of failures into what the client is told.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::HeaderValue;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::connector::{proxies_from_env, Connector};

use crate::UpstreamRequest;

/// Timeouts and pool settings for upstream calls.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    pub connect_timeout: Duration,
    /// Whole-call limit for non-streaming calls (headers and body).
    pub request_timeout: Duration,
    /// Limit until a stream's response headers arrive.
    pub stream_first_byte_timeout: Duration,
    /// Longest silence allowed between two stream chunks.
    pub stream_idle_timeout: Duration,
    /// Largest upstream body accepted for a non-streaming call.
    pub max_response_bytes: usize,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(600),
            stream_first_byte_timeout: Duration::from_secs(600),
            stream_idle_timeout: Duration::from_secs(300),
            max_response_bytes: 64 << 20,
        }
    }
}

/// Why an upstream call failed before a usable answer arrived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    #[error("could not connect to the upstream: {0}")]
    Connect(String),
    #[error("the upstream did not answer in time")]
    Timeout,
    #[error("the upstream connection failed mid-response: {0}")]
    Broken(String),
    #[error("the upstream response is larger than {0} bytes")]
    TooLarge(usize),
}

/// The pooled client: HTTP/1.1, in clear or TLS, directly or through the
/// environment's proxy ([`crate::connector`]), the body sent as one buffer.
type Client = hyper_util::client::legacy::Client<Connector, Full<Bytes>>;

/// Sends upstream requests over one shared connection pool.
#[derive(Clone)]
pub struct Executor {
    client: Client,
    config: ExecutorConfig,
}

/// Sent on every upstream request.
const USER_AGENT: HeaderValue =
    HeaderValue::from_static(concat!("keel/", env!("CARGO_PKG_VERSION")));

impl Executor {
    /// Builds the shared client: keep-alive pool, TCP_NODELAY, TLS through
    /// rustls, the proxy the environment names, no redirects (hyper follows
    /// none: an LLM API that redirects a POST is misconfigured, not to be
    /// followed). A hyper client rather than reqwest: reqwest parsed each
    /// request's URL (with IDNA) and wrapped it in layers Keel does not
    /// use, about a sixth of Keel's CPU per call.
    pub fn new(config: ExecutorConfig) -> Result<Self, crate::ProviderError> {
        Ok(Self::with_proxies(config, proxies_from_env()))
    }

    /// [`Executor::new`] with these proxy rules instead of the environment's.
    pub(crate) fn with_proxies(config: ExecutorConfig, proxies: Option<Matcher>) -> Self {
        let connector = Connector::new(config.connect_timeout, proxies);
        let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Executor { client, config }
    }

    pub fn config(&self) -> &ExecutorConfig {
        &self.config
    }

    /// Sends `req` and waits for the response headers, at most `limit`.
    pub async fn send(
        &self,
        req: UpstreamRequest,
        limit: Duration,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let uri: http::Uri = req
            .url
            .parse()
            .map_err(|e| UpstreamError::Connect(format!("invalid upstream URL: {e}")))?;
        let mut request = http::Request::new(Full::new(req.body));
        *request.method_mut() = req.method;
        *request.uri_mut() = uri;
        let mut headers = req.headers;
        headers
            .entry(http::header::USER_AGENT)
            .or_insert(USER_AGENT);
        *request.headers_mut() = headers;
        match tokio::time::timeout(limit, self.client.request(request)).await {
            Err(_) => Err(UpstreamError::Timeout),
            Ok(Err(e)) => Err(classify(&e)),
            Ok(Ok(resp)) => Ok(resp),
        }
    }

    /// Reads a whole response body by `deadline`, refusing more than
    /// `max_response_bytes`.
    pub async fn read_body(
        &self,
        resp: UpstreamResponse,
        deadline: tokio::time::Instant,
    ) -> Result<Bytes, UpstreamError> {
        let max = self.config.max_response_bytes;
        let declared = resp
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > max as u64) {
            return Err(UpstreamError::TooLarge(max));
        }
        let read = async {
            let mut stream = body_stream(resp);
            let Some(first) = stream.next().await else {
                return Ok(Bytes::new());
            };
            let first = first?;
            // Most bodies arrive in one chunk: return it without copying.
            let Some(second) = stream.next().await else {
                return Ok(first);
            };
            let mut buf = BytesMut::from(first.as_ref());
            buf.extend_from_slice(&second?);
            while let Some(chunk) = stream.next().await {
                buf.extend_from_slice(&chunk?);
                if buf.len() > max {
                    return Err(UpstreamError::TooLarge(max));
                }
            }
            Ok(buf.freeze())
        };
        tokio::time::timeout_at(deadline, read)
            .await
            .unwrap_or(Err(UpstreamError::Timeout))
    }
}

/// An upstream's response, headers read, body still to come.
pub type UpstreamResponse = http::Response<Incoming>;

/// A streaming upstream body, with failures already classified.
pub type ByteStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, UpstreamError>> + Send>>;

/// Turns a response into its body stream: its data frames, trailers left out.
pub fn body_stream(resp: UpstreamResponse) -> ByteStream {
    Box::pin(
        resp.into_body()
            .into_data_stream()
            .map(|r| r.map_err(|e| classify_body(&e))),
    )
}

/// Maps a failed request to what the client is told. A connection that
/// did not open within `connect_timeout` is a timeout (504), as a slow
/// answer is; one refused, unresolvable, or refused by a proxy is a connect
/// error (502).
fn classify(e: &hyper_util::client::legacy::Error) -> UpstreamError {
    if timed_out(e) {
        UpstreamError::Timeout
    } else if e.is_connect() {
        UpstreamError::Connect(root_cause(e))
    } else {
        UpstreamError::Broken(root_cause(e))
    }
}

/// Whether an I/O timeout is among the error's causes.
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Maps a failure while reading a body.
pub fn classify_body(e: &hyper::Error) -> UpstreamError {
    if e.is_timeout() {
        UpstreamError::Timeout
    } else {
        UpstreamError::Broken(root_cause(e))
    }
}

/// The innermost cause's message (the client's own text is generic).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // the test server dies with the test's runtime
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server that answers anything with a plain-HTTP 400, once.
    async fn plain_http_server() -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let reply = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
                let _ = socket.write_all(reply).await;
            }
        });
        addr
    }

    fn post(url: String) -> UpstreamRequest {
        UpstreamRequest {
            method: http::Method::POST,
            url,
            headers: http::HeaderMap::new(),
            body: Bytes::from_static(b"{}"),
        }
    }

    #[tokio::test]
    async fn https_urls_are_spoken_in_tls_and_http_urls_in_clear() {
        let addr = plain_http_server().await;
        let executor = Executor::new(ExecutorConfig::default()).unwrap();
        let limit = Duration::from_secs(5);
        let clear = executor
            .send(post(format!("http://{addr}/v1/chat/completions")), limit)
            .await
            .unwrap();
        assert_eq!(clear.status(), 400);
        // The same server behind an https URL: the TLS handshake fails, and
        // nothing is sent in clear.
        let tls = executor
            .send(post(format!("https://{addr}/v1/chat/completions")), limit)
            .await;
        assert!(
            matches!(tls, Err(UpstreamError::Connect(_))),
            "{:?}",
            tls.map(|r| r.status())
        );
    }

    /// A CONNECT proxy that tunnels to whatever it is asked for, counting
    /// the tunnels it opened.
    async fn connect_proxy() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tunnels = Arc::new(AtomicUsize::new(0));
        let counted = tunnels.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let counted = counted.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if client.read(&mut byte).await.unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let Some(target) = head
                        .strip_prefix("CONNECT ")
                        .and_then(|rest| rest.split_whitespace().next())
                    else {
                        return;
                    };
                    let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    counted.fetch_add(1, Ordering::SeqCst);
                    let established = b"HTTP/1.1 200 Connection Established\r\n\r\n";
                    if client.write_all(established).await.is_ok() {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
            }
        });
        (addr, tunnels)
    }

    #[tokio::test]
    async fn proxy_rules_tunnel_http_and_https_upstreams() {
        let server = plain_http_server().await;
        let (proxy, tunnels) = connect_proxy().await;
        let rules = Matcher::builder()
            .http(format!("http://{proxy}"))
            .https(format!("http://{proxy}"))
            .build();
        let executor = Executor::with_proxies(ExecutorConfig::default(), Some(rules));
        let limit = Duration::from_secs(5);
        let through = executor
            .send(post(format!("http://{server}/v1/chat/completions")), limit)
            .await
            .unwrap();
        assert_eq!(through.status(), 400);
        assert_eq!(tunnels.load(Ordering::SeqCst), 1);
        // https through the tunnel: the TLS handshake reaches the plain
        // server and fails there.
        let tls = executor
            .send(post(format!("https://{server}/v1/chat/completions")), limit)
            .await;
        assert!(matches!(tls, Err(UpstreamError::Connect(_))));
        assert_eq!(tunnels.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn hosts_in_no_proxy_are_reached_directly() {
        let server = plain_http_server().await;
        let (proxy, tunnels) = connect_proxy().await;
        let rules = Matcher::builder()
            .all(format!("http://{proxy}"))
            .no("127.0.0.1")
            .build();
        let executor = Executor::with_proxies(ExecutorConfig::default(), Some(rules));
        let direct = executor
            .send(
                post(format!("http://{server}/v1/chat/completions")),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        assert_eq!(direct.status(), 400);
        assert_eq!(tunnels.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let executor = Executor::new(ExecutorConfig::default()).unwrap();
        let refused = executor
            .send(post("http://127.0.0.1:9/v1".into()), Duration::from_secs(5))
            .await;
        assert!(matches!(refused, Err(UpstreamError::Connect(_))));
    }
}
