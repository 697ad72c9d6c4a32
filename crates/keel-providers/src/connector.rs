//! Opening upstream connections: directly, or through the HTTP proxy the
//! environment names (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, excepting
//! `NO_PROXY`), tunnelled with CONNECT for http and https upstreams alike.
//! TLS (rustls, Mozilla's roots) for https upstreams either way.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder, MaybeHttpsStream};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An open upstream connection, in TLS or in clear.
pub type Stream = MaybeHttpsStream<TokioIo<TcpStream>>;

/// The environment variables that name a proxy; without any, every
/// connection is direct and no proxy rule is consulted.
const PROXY_VARIABLES: [&str; 6] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The proxy rules of the process environment, if it names a proxy.
pub fn proxies_from_env() -> Option<Matcher> {
    PROXY_VARIABLES
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
        .then(Matcher::from_env)
}

/// Opens connections for the pooled client.
#[derive(Clone)]
pub struct Connector {
    tcp: HttpConnector,
    direct: HttpsConnector<HttpConnector>,
    proxies: Option<Arc<Matcher>>,
}

impl Connector {
    /// TCP with TCP_NODELAY and `connect_timeout` (to the upstream, or to
    /// its proxy), TLS where the URL says https.
    pub fn new(connect_timeout: Duration, proxies: Option<Matcher>) -> Connector {
        let mut tcp = HttpConnector::new();
        tcp.set_connect_timeout(Some(connect_timeout));
        tcp.set_nodelay(true);
        tcp.enforce_http(false);
        Connector {
            direct: tls(tcp.clone()),
            tcp,
            proxies: proxies.map(Arc::new),
        }
    }
}

/// `inner`'s connections, in TLS for https destinations.
fn tls<C>(inner: C) -> HttpsConnector<C> {
    HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .wrap_connector(inner)
}

impl Service<Uri> for Connector {
    type Response = Stream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        match self.proxies.as_ref().and_then(|m| m.intercept(&dst)) {
            None => {
                let mut direct = self.direct.clone();
                Box::pin(async move { direct.call(dst).await })
            }
            Some(proxy) => {
                let mut tunnel = Tunnel::new(proxy.uri().clone(), self.tcp.clone());
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                let mut through = tls(tunnel);
                Box::pin(async move { through.call(dst).await })
            }
        }
    }
}
