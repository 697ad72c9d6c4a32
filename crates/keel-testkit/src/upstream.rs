//! [`FakeUpstream`]: a fake OpenAI-compatible server on a local port, for
//! gateway integration tests (realistic mode) and benchmarks (fast mode).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::fast::FastReplies;
use crate::server::{self, Ctx};
use crate::state::{RecordedRequest, Shared};

/// Default pacing of bench-mode streams whose body names a `slow-stream` model.
pub const DEFAULT_SLOW_CHUNK_DELAY: Duration = Duration::from_millis(20);

/// Accept queue length. Tokio's `TcpListener::bind` uses 128, and a burst of
/// more simultaneous connects than that overflows it: the kernel drops the
/// extra SYNs and the clients retry only after a second.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds 127.0.0.1:`port` with [`LISTEN_BACKLOG`].
fn listen(port: u16) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
    socket.listen(LISTEN_BACKLOG)
}

/// How to start a [`FakeUpstream`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Bench mode: precomputed answers, no request log.
    pub fast: bool,
    /// Bench mode: delay between SSE events.
    pub chunk_delay: Option<Duration>,
    /// Bench mode: delay between SSE events for bodies containing `slow-stream`.
    pub slow_chunk_delay: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            port: 0,
            fast: false,
            chunk_delay: None,
            slow_chunk_delay: Some(DEFAULT_SLOW_CHUNK_DELAY),
        }
    }
}

/// A running fake upstream. Dropping it stops the server and closes every
/// connection it holds, hanging ones included.
#[derive(Debug)]
pub struct FakeUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    // Owning the accept task means dropping `FakeUpstream` aborts it.
    _tasks: JoinSet<()>,
}

impl FakeUpstream {
    /// Starts a realistic-mode server on 127.0.0.1 with a free port.
    ///
    /// # Panics
    /// When no local port can be bound; a test cannot go on without one.
    #[allow(clippy::panic)]
    pub async fn start() -> FakeUpstream {
        match Self::bind(Options::default()).await {
            Ok(upstream) => upstream,
            Err(e) => panic!("fake upstream could not bind 127.0.0.1:0: {e}"),
        }
    }

    /// Starts a bench-mode server (fixed answers) with `chunk_delay`
    /// between the events of streamed answers.
    ///
    /// # Panics
    /// When no local port can be bound.
    #[allow(clippy::panic)]
    pub async fn start_fast(chunk_delay: Option<Duration>) -> FakeUpstream {
        let options = Options {
            fast: true,
            chunk_delay,
            ..Options::default()
        };
        match Self::bind(options).await {
            Ok(upstream) => upstream,
            Err(e) => panic!("fake upstream could not bind 127.0.0.1:0: {e}"),
        }
    }

    /// Starts a server with explicit options; fails if the port is taken.
    pub async fn bind(options: Options) -> io::Result<FakeUpstream> {
        let listener = listen(options.port)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let ctx = Arc::new(Ctx {
            shared: Arc::clone(&shared),
            fast: options
                .fast
                .then(|| FastReplies::new(options.chunk_delay, options.slow_chunk_delay)),
        });
        let mut tasks = JoinSet::new();
        tasks.spawn(server::serve(listener, ctx));
        Ok(FakeUpstream {
            addr,
            shared,
            _tasks: tasks,
        })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The OpenAI-style base URL, `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The base URL of the fake Bedrock runtime, `http://127.0.0.1:PORT`
    /// (Converse paths start at the root).
    pub fn bedrock_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in arrival order (realistic mode only).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.clear();
    }

    /// Connections open right now.
    pub fn connections_open(&self) -> usize {
        self.shared.connections_open.load(Ordering::SeqCst)
    }

    /// Connections accepted since start.
    pub fn connections_total(&self) -> usize {
        self.shared.connections_total.load(Ordering::SeqCst)
    }

    /// SSE streams begun (realistic mode).
    pub fn streams_started(&self) -> usize {
        self.shared.streams_started.load(Ordering::SeqCst)
    }

    /// SSE streams whose last event was handed to the connection: the reader
    /// kept reading to the end (`[DONE]` included).
    pub fn streams_completed(&self) -> usize {
        self.shared.streams_completed.load(Ordering::SeqCst)
    }

    /// SSE streams that ended early: the reader went away mid-stream, or the
    /// stream was a `fault-cut` one.
    pub fn streams_aborted(&self) -> usize {
        self.shared.streams_aborted.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` streams completed, or `timeout` passed;
    /// returns whether they did. Lets tests avoid sleeping.
    pub async fn wait_streams_completed(&self, n: usize, timeout: Duration) -> bool {
        self.wait_for(|u| u.streams_completed() >= n, timeout).await
    }

    /// Waits until at least `n` streams finished either way (completed or
    /// aborted), or `timeout` passed; returns whether they did.
    pub async fn wait_streams_finished(&self, n: usize, timeout: Duration) -> bool {
        self.wait_for(
            |u| u.streams_completed() + u.streams_aborted() >= n,
            timeout,
        )
        .await
    }

    async fn wait_for(&self, done: impl Fn(&Self) -> bool, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            // Registered before the check, so a wake-up in between is not lost.
            let notified = self.shared.stream_done.notified();
            if done(self) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return done(self);
            }
        }
    }
}
