//! `keel serve`: open the store, start the writer, discover models, listen,
//! and on SIGTERM/Ctrl-C drain in-flight requests and the record queue.

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::serve::ListenerExt;
use keel_providers::Executor;
use secrecy::SecretString;
use tokio::net::{TcpListener, TcpSocket};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::discovery;
use crate::handlers::router;
use crate::metrics::Metrics;
use crate::pricing::PriceCatalog;
use crate::serve_error::ServeError;
use crate::state::{AppState, StateParts};
use crate::tasks::Tasks;

/// A started gateway: where it listens and how to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    stop: CancellationToken,
    done: tokio::task::JoinHandle<Result<(), ServeError>>,
}

impl Running {
    /// Starts a graceful shutdown, as SIGTERM does.
    pub fn shutdown(&self) {
        self.stop.cancel();
    }

    /// Waits until the server has drained and every record is stored.
    pub async fn wait(self) -> Result<(), ServeError> {
        drop(self.state);
        self.done.await.map_err(|e| ServeError::Task {
            what: "the server task",
            detail: e.to_string(),
        })?
    }
}

/// Runs Keel until SIGTERM or Ctrl-C, then drains.
pub async fn run(config: Config) -> Result<(), ServeError> {
    let running = start(config).await?;
    let stop = running.stop.clone();
    tokio::select! {
        _ = shutdown_signal() => tracing::info!("shutdown signal received; draining"),
        _ = stop.cancelled() => {}
    }
    running.shutdown();
    running.wait().await
}

/// Starts Keel in the background (used by `run` and by tests).
#[allow(clippy::disallowed_methods)] // the server and writer tasks are awaited in `Running::wait`
pub async fn start(config: Config) -> Result<Running, ServeError> {
    let metrics = Metrics::install();
    std::fs::create_dir_all(&config.data_dir).map_err(|source| ServeError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let master_key = match &config.master_key {
        Some(k) => k.clone(),
        None => master_key_file(&config.data_dir)?,
    };
    let store = keel_store::open(
        config.database_url.as_deref(),
        &config.data_dir,
        config.writer.durability,
    )
    .await?;
    let (governance, governance_tasks) = crate::governance::Governance::load(
        store.as_ref(),
        config.governance.clone(),
        config.governance.clock.clone(),
    )
    .await?;
    let observer: keel_store::writer::BatchObserver = Arc::new(crate::metrics::observe_batch);
    let (sink, writer) =
        keel_store::writer::channel(store.clone(), config.writer.clone(), Some(observer));
    let writer_task = tokio::spawn(writer.run());
    let executor = Executor::new(config.executor.clone())?;
    let prices = PriceCatalog::load(config.prices.iter()).map_err(ServeError::Prices)?;
    let mut entries = discovery::providers(&config.providers)?;
    let fetching: Vec<_> = entries
        .iter()
        .filter_map(|e| e.fetches_credentials.clone())
        .collect();
    let fetched = crate::aws_credentials::fetch_all(&executor, &fetching)
        .await
        .map_err(ServeError::Credentials)?;
    discovery::discover_all(&executor, &mut entries).await;
    let registry = discovery::registry(&entries);
    if registry.is_empty() {
        tracing::warn!(
            "no models are configured: set OPENAI_API_KEY or add [[providers]] to keel.toml"
        );
    }
    let addr = SocketAddr::new(config.host, config.port);
    let listener = listen(addr).map_err(|source| ServeError::Listen { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServeError::Listen { addr, source })?;
    let tasks = Tasks::new();
    let state = Arc::new(AppState::new(StateParts {
        config,
        master_key,
        executor,
        registry,
        sink,
        store: store.clone(),
        prices,
        tasks: tasks.clone(),
        metrics,
        governance,
    }));
    governance_tasks.start(&state);
    tasks.spawn(discovery::retry_in_background(state.clone(), entries));
    for (provider, first) in fetching.into_iter().zip(fetched) {
        tasks.spawn(crate::aws_credentials::keep_fresh(
            state.executor.clone(),
            provider,
            first,
            state.shutdown.clone(),
        ));
    }
    let app = router(state.clone());
    let stop = CancellationToken::new();
    let grace = state.config.shutdown_grace;
    let server_state = state.clone();
    let stopping = stop.clone();
    let done = tokio::spawn(async move {
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let graceful = stopping.clone();
        let serve = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            graceful.cancelled().await;
        });
        let over_time = async {
            stopping.cancelled().await;
            server_state.shutdown.cancel();
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            result = serve => result.map_err(ServeError::Serve)?,
            _ = over_time => tracing::warn!(?grace, "shutdown grace period over; closing the remaining connections"),
        }
        server_state.shutdown.cancel();
        // Calls still running and streams whose clients left (draining for
        // their usage) finish within the drain timeout.
        let drain = server_state.config.drain_timeout;
        let flush = server_state.config.writer.flush_interval;
        if tokio::time::timeout(drain, server_state.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                tasks = server_state.tasks.len(),
                "calls still running after the drain timeout"
            );
        }
        let store = server_state.store.clone();
        let redis = server_state.governance.redis.clone();
        drop(server_state);
        // The writer ends once every sink is gone and its queue is empty. A
        // connection whose client stopped reading can keep a sink alive; the
        // writer still flushes everything queued every interval, so waiting
        // a few intervals more stores every finished call.
        match tokio::time::timeout(flush * 3 + drain, writer_task).await {
            Ok(result) => result.map_err(|e| ServeError::Task {
                what: "the record writer",
                detail: e.to_string(),
            })?,
            Err(_) => tracing::warn!(
                "connections still open after the drain; exiting without waiting for them"
            ),
        }
        // Records built last settle their reservations in Redis.
        if let Some(redis) = redis {
            if tokio::time::timeout(drain, redis.drain()).await.is_err() {
                tracing::warn!("budget settlements still waiting on Redis at exit");
            }
        }
        store.close().await;
        tracing::info!("stopped");
        Ok(())
    });
    tracing::info!(%addr, "keel listening on http://{addr}");
    Ok(Running {
        addr,
        state,
        stop,
        done,
    })
}

/// Binds with a deep accept backlog: a burst of hundreds of new connections
/// (agents fanning out) would otherwise overflow the default 128 and wait a
/// full SYN retry (1 s) each.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// With no master key configured, Keel creates one on first start and keeps
/// it in `<data dir>/master_key` (mode 0600), so a bare `keel serve` is never
/// an open proxy.
fn master_key_file(data_dir: &Path) -> Result<SecretString, ServeError> {
    let path = data_dir.join("master_key");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let key = existing.trim().to_owned();
        if !key.is_empty() {
            tracing::info!(path = %path.display(), "using the master key from the data directory");
            return Ok(SecretString::from(key));
        }
    }
    let mut random = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut random))
        .map_err(|e| {
            ServeError::MasterKey(format!("cannot read random bytes for a master key: {e}"))
        })?;
    let key: String = std::iter::once("keel-".to_owned())
        .chain(random.iter().map(|b| format!("{b:02x}")))
        .collect();
    write_private(&path, &key)
        .map_err(|e| ServeError::MasterKey(format!("cannot write {}: {e}", path.display())))?;
    tracing::warn!(
        path = %path.display(),
        "no KEEL_MASTER_KEY set: created a master key; send it as 'Authorization: Bearer <key>'"
    );
    Ok(SecretString::from(key))
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")
}
