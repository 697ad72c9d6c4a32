//! The one place that talks HTTP to upstreams: a pooled client, timeouts, and
//! the classification of failures into what the client is told.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

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

/// Sends upstream requests over one shared connection pool.
#[derive(Clone)]
pub struct Executor {
    client: reqwest::Client,
    config: ExecutorConfig,
}

impl Executor {
    /// Builds the shared client: keep-alive pool, TCP_NODELAY, no redirects
    /// (an LLM API that redirects a POST is misconfigured, not to be followed).
    pub fn new(config: ExecutorConfig) -> Result<Self, crate::ProviderError> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("keel/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| crate::ProviderError::HttpClient(e.to_string()))?;
        Ok(Executor { client, config })
    }

    pub fn config(&self) -> &ExecutorConfig {
        &self.config
    }

    /// Sends `req` and waits for the response headers, at most `limit`.
    pub async fn send(
        &self,
        req: UpstreamRequest,
        limit: Duration,
    ) -> Result<reqwest::Response, UpstreamError> {
        let call = self
            .client
            .request(req.method, req.url)
            .headers(req.headers)
            .body(req.body)
            .send();
        match tokio::time::timeout(limit, call).await {
            Err(_) => Err(UpstreamError::Timeout),
            Ok(Err(e)) => Err(classify(&e)),
            Ok(Ok(resp)) => Ok(resp),
        }
    }

    /// Reads a whole response body by `deadline`, refusing more than
    /// `max_response_bytes`.
    pub async fn read_body(
        &self,
        resp: reqwest::Response,
        deadline: tokio::time::Instant,
    ) -> Result<Bytes, UpstreamError> {
        let max = self.config.max_response_bytes;
        if resp.content_length().is_some_and(|len| len as usize > max) {
            return Err(UpstreamError::TooLarge(max));
        }
        let read = async {
            let mut stream = resp.bytes_stream();
            let Some(first) = stream.next().await else {
                return Ok(Bytes::new());
            };
            let first = first.map_err(|e| classify_body(&e))?;
            // Most bodies arrive in one chunk: return it without copying.
            let Some(second) = stream.next().await else {
                return Ok(first);
            };
            let mut buf = BytesMut::from(first.as_ref());
            buf.extend_from_slice(&second.map_err(|e| classify_body(&e))?);
            while let Some(chunk) = stream.next().await {
                buf.extend_from_slice(&chunk.map_err(|e| classify_body(&e))?);
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
pub type UpstreamResponse = reqwest::Response;

/// A streaming upstream body, with failures already classified.
pub type ByteStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, UpstreamError>> + Send>>;

/// Turns a response into its body stream.
pub fn body_stream(resp: reqwest::Response) -> ByteStream {
    Box::pin(
        resp.bytes_stream()
            .map(|r| r.map_err(|e| classify_body(&e))),
    )
}

/// Maps a failed `send` to what the client is told.
fn classify(e: &reqwest::Error) -> UpstreamError {
    if e.is_timeout() {
        UpstreamError::Timeout
    } else if e.is_connect() {
        UpstreamError::Connect(root_cause(e))
    } else {
        UpstreamError::Broken(root_cause(e))
    }
}

/// Maps a failure while reading a body.
pub fn classify_body(e: &reqwest::Error) -> UpstreamError {
    if e.is_timeout() {
        UpstreamError::Timeout
    } else {
        UpstreamError::Broken(root_cause(e))
    }
}

/// The innermost cause's message (reqwest's own text is generic).
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

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let executor = Executor::new(ExecutorConfig::default()).unwrap();
        let refused = executor
            .send(post("http://127.0.0.1:9/v1".into()), Duration::from_secs(5))
            .await;
        assert!(matches!(refused, Err(UpstreamError::Connect(_))));
    }
}
