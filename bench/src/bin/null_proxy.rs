//! `keel-null-proxy`: the thinnest possible HTTP/1.1 pass-through proxy
//! (hyper server + pooled hyper client, no parsing, no records).
//! `bench/run.sh` measures it next to Keel in every run (the "proxy" side):
//! it shows the floor any proxy pays on this machine, and Keel's goals are
//! ratios to it.
//!
//! Usage: `keel-null-proxy --upstream http://127.0.0.1:PORT [--port N] [--threads N]`.
//! Answers `GET /health/ready` itself; forwards everything else unchanged.

use std::convert::Infallible;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpSocket;
use tokio::task::JoinSet;

type ProxyBody = BoxBody<Bytes, hyper::Error>;

struct Proxy {
    client: Client<HttpConnector, Incoming>,
    /// `http://host:port` of the upstream; request paths are kept as sent.
    upstream: String,
}

fn reply(status: StatusCode, text: &'static str) -> Response<ProxyBody> {
    let body = Full::new(Bytes::from_static(text.as_bytes()))
        .map_err(|never| match never {})
        .boxed();
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    resp
}

async fn forward(
    proxy: Arc<Proxy>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    if req.uri().path() == "/health/ready" {
        return Ok(reply(StatusCode::OK, "ok"));
    }
    let (mut parts, body) = req.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = match format!("{}{path}", proxy.upstream).parse::<Uri>() {
        Ok(uri) => uri,
        Err(_) => return Ok(reply(StatusCode::BAD_REQUEST, "bad path")),
    };
    parts.headers.remove(http::header::HOST);
    match proxy.client.request(Request::from_parts(parts, body)).await {
        Ok(resp) => Ok(resp.map(BodyExt::boxed)),
        Err(_) => Ok(reply(StatusCode::BAD_GATEWAY, "upstream error")),
    }
}

fn parse_args() -> Result<(String, u16, Option<usize>), String> {
    let (mut upstream, mut port, mut threads) = (None, 0u16, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--upstream" => upstream = Some(value),
            "--port" => port = value.parse().map_err(|_| format!("bad port {value}"))?,
            "--threads" => {
                threads = Some(value.parse().map_err(|_| format!("bad threads {value}"))?)
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let upstream = upstream.ok_or("--upstream http://127.0.0.1:PORT is required")?;
    // Keep scheme and authority only: paths arrive complete from the client.
    let origin = match upstream.strip_prefix("http://") {
        Some(rest) => format!("http://{}", rest.split('/').next().unwrap_or(rest)),
        None => return Err("only http:// upstreams are supported".to_owned()),
    };
    Ok((origin, port, threads))
}

async fn serve(upstream: String, port: u16) -> std::io::Result<()> {
    // A long accept queue: tokio's default of 128 drops SYNs in a burst.
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)))?;
    let listener = socket.listen(4096)?;
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let proxy = Arc::new(Proxy {
        client: Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1024)
            .build(connector),
        upstream,
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "http://{}/v1", listener.local_addr()?)?;
    out.flush()?;
    drop(out);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let proxy = Arc::clone(&proxy);
                connections.spawn(async move {
                    let service = service_fn(move |req| forward(Arc::clone(&proxy), req));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

fn main() -> ExitCode {
    let (upstream, port, threads) = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("keel-null-proxy: {e}");
            return ExitCode::from(2);
        }
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        builder.worker_threads(n.max(1));
    }
    let result = builder
        .enable_all()
        .build()
        .and_then(|rt| rt.block_on(serve(upstream, port)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keel-null-proxy: {e}");
            ExitCode::FAILURE
        }
    }
}
