//! Shared server state: the request log and the counters tests poll.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{Map, Value};
use tokio::sync::Notify;

/// One request as the fake upstream received it, so tests can check what a
/// gateway forwarded (path, headers, rewritten body).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// HTTP method, upper case (`POST`).
    pub method: String,
    /// Request path without the query string (`/v1/chat/completions`).
    pub path: String,
    /// Headers in arrival order; names are lower case.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON, or `Value::Null` when it is empty or not JSON.
    pub body: Value,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// JSON form served by `GET /__requests`: headers become an object
    /// (repeated names joined with ", ") so scripts can index them by name.
    pub fn to_json(&self) -> Value {
        let mut headers = Map::new();
        for (k, v) in &self.headers {
            match headers.get_mut(k) {
                Some(Value::String(prev)) => {
                    prev.push_str(", ");
                    prev.push_str(v);
                }
                _ => {
                    headers.insert(k.clone(), Value::String(v.clone()));
                }
            }
        }
        serde_json::json!({
            "method": self.method,
            "path": self.path,
            "headers": headers,
            "body": self.body,
        })
    }
}

/// Counters and the request log, shared by every connection of one server.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    requests: Mutex<Vec<RecordedRequest>>,
    pub(crate) connections_open: AtomicUsize,
    pub(crate) connections_total: AtomicUsize,
    pub(crate) streams_started: AtomicUsize,
    pub(crate) streams_completed: AtomicUsize,
    pub(crate) streams_aborted: AtomicUsize,
    /// Woken whenever a stream finishes either way, so waiters need no sleeps.
    pub(crate) stream_done: Notify,
}

impl Shared {
    fn log(&self) -> MutexGuard<'_, Vec<RecordedRequest>> {
        // A panic while holding the lock cannot leave the Vec half-updated.
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn record(&self, req: RecordedRequest) {
        self.log().push(req);
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.log().clone()
    }

    pub(crate) fn clear(&self) {
        self.log().clear();
    }

    pub(crate) fn stream_finished(&self, completed: bool) {
        let counter = if completed {
            &self.streams_completed
        } else {
            &self.streams_aborted
        };
        counter.fetch_add(1, Ordering::SeqCst);
        self.stream_done.notify_waiters();
    }
}

/// Decrements the open-connection gauge when a connection task ends,
/// including when it is aborted.
pub(crate) struct ConnectionGuard(Arc<Shared>);

impl ConnectionGuard {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        shared.connections_open.fetch_add(1, Ordering::SeqCst);
        shared.connections_total.fetch_add(1, Ordering::SeqCst);
        ConnectionGuard(shared)
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::SeqCst);
    }
}
