//! Exactly one record per call, by construction: the call is owned by a
//! guard whose only way out is [`CallGuard::record`]. A guard dropped
//! before that (a stage that panicked, a task cancelled, a bug) records the
//! call as `internal_error` on its way out.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use bytes::Bytes;
use keel_api::{ApiError, ErrorKind};

use super::{Call, Ending, RecordContext};
use crate::state::AppState;

/// A call that still owes its record.
pub struct CallGuard {
    call: Option<Call>,
    state: Arc<AppState>,
}

impl CallGuard {
    /// Takes charge of `call`'s record.
    pub fn new(state: Arc<AppState>, call: Call) -> CallGuard {
        CallGuard {
            call: Some(call),
            state,
        }
    }

    /// The shared state the call runs in.
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Hands the finished call to the record writer; in `sync` durability
    /// waits until its record is committed.
    pub async fn record(mut self, mut ending: Ending) {
        let Some(mut call) = self.call.take() else {
            return;
        };
        if call.client.gone() {
            ending.client_gone();
        }
        let builder = call.into_record(ending, record_context(&self.state));
        if let Some(committed) = self.state.sink.submit(builder).await {
            let _ = committed.await;
        }
    }
}

/// What record building needs from the state.
fn record_context(state: &AppState) -> RecordContext {
    RecordContext {
        prices: state.prices.clone(),
        record_bodies: state.config.record_bodies,
        governance: state.governance.clone(),
    }
}

impl Deref for CallGuard {
    type Target = Call;

    fn deref(&self) -> &Call {
        match &self.call {
            Some(call) => call,
            None => unreachable!("a recorded call is not used again"),
        }
    }
}

impl DerefMut for CallGuard {
    fn deref_mut(&mut self) -> &mut Call {
        match &mut self.call {
            Some(call) => call,
            None => unreachable!("a recorded call is not used again"),
        }
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        let Some(call) = self.call.take() else {
            return;
        };
        let why = if std::thread::panicking() {
            "a stage of the request path panicked"
        } else {
            "the request path dropped it unfinished (a stage panicked, or a bug)"
        };
        let err = ApiError::new(
            ErrorKind::Internal,
            format!("the call ended without an answer: {why}"),
        );
        tracing::error!(invocation = %call.id, "{}", err.message);
        let ending = Ending::from_error(&err, 500, Bytes::from(err.to_json()), call.started);
        let builder = call.into_record(ending, record_context(&self.state));
        let sink = self.state.sink.clone();
        self.state.tasks.spawn(async move {
            let _ = sink.submit(builder).await;
        });
    }
}
