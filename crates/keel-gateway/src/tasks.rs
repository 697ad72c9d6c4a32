//! Every background task is spawned here, so shutdown can wait for all of
//! them (stream drains, discovery, the record writer).

use std::future::Future;

use tokio_util::task::TaskTracker;

/// Owns spawned tasks; [`Tasks::wait`] returns once every one has ended.
#[derive(Clone, Default)]
pub struct Tasks {
    tracker: TaskTracker,
}

impl Tasks {
    pub fn new() -> Self {
        Tasks::default()
    }

    /// Spawns `fut` on the current runtime as an owned task. Outside a
    /// runtime (a value dropped during runtime teardown) it is not run.
    pub fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                self.tracker.spawn_on(fut, &handle);
            }
            Err(_) => tracing::error!("a background task could not start: no runtime"),
        }
    }

    /// Stops accepting the idea of "more to come" and waits for all tasks.
    pub async fn wait(&self) {
        self.tracker.close();
        self.tracker.wait().await;
    }

    /// Tasks still running.
    pub fn len(&self) -> usize {
        self.tracker.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tracker.is_empty()
    }
}
