//! Giving memory back after a burst. glibc keeps freed memory in its
//! per-thread arenas, so RSS stays at its peak long after a load spike (a
//! burst of concurrent streams, a full record queue). Every few seconds Keel
//! asks glibc to return free pages to the OS.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How often free memory is handed back.
const TRIM_EVERY: Duration = Duration::from_secs(2);

/// Trims the allocator's free memory until `shutdown` is cancelled.
pub async fn trim_periodically(shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(TRIM_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => trim(),
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim only releases free heap pages; it takes no pointers
    // and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
