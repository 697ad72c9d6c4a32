//! `kill -9` under load: what the durability setting promises must hold.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keel_testkit::FakeUpstream;

use crate::process::*;

/// Drives `workers` loops of calls (every third one streamed) until at least
/// `target` calls are answered, then kills Keel with SIGKILL mid-load.
/// Returns each answered call (invocation id, when its last byte arrived)
/// and the moment of the kill.
async fn load_then_kill(
    keel: &mut Keel,
    workers: usize,
    target: usize,
) -> (Vec<(String, Instant)>, Instant) {
    let answered: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let (count_tx, mut count_rx) = tokio::sync::watch::channel(0usize);
    let count_tx = Arc::new(count_tx);
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for w in 0..workers {
        let caller = Keel::shadow(&keel.url, &keel.client);
        let (answered, stop, count_tx) = (answered.clone(), stop.clone(), count_tx.clone());
        handles.push(tokio::spawn(async move {
            let mut n = w;
            while !stop.load(Ordering::Relaxed) {
                if let Some(id) = caller.call_with(n % 3 == 0).await {
                    let mut list = answered.lock().unwrap();
                    list.push((id, Instant::now()));
                    count_tx.send_replace(list.len());
                }
                n += 1;
            }
        }));
    }
    // `wait_for` hands back a read guard on the count: drop it at once, or
    // the workers' next `send_replace` would wait on it forever.
    let reached = tokio::time::timeout(Duration::from_secs(60), async {
        count_rx.wait_for(|&n| n >= target).await.map(|_| ())
    })
    .await;
    assert!(
        matches!(reached, Ok(Ok(()))),
        "load did not reach {target} answered calls"
    );
    keel.child.kill().unwrap();
    let killed_at = Instant::now();
    keel.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.await.unwrap();
    }
    let answered = answered.lock().unwrap().clone();
    (answered, killed_at)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_durability_loses_no_answered_call_on_kill_9() {
    let upstream = FakeUpstream::start().await;
    let dir = temp_dir("kill9-sync");
    let config = write_config(
        &dir,
        &upstream.base_url(),
        "[store]\ndurability = \"sync\"\n",
    );
    let mut keel = Keel::start(&dir, &config);
    let (answered, _) = load_then_kill(&mut keel, 8, 200).await;
    let stored: HashSet<String> = log_records(&dir, &[])
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let missing: Vec<_> = answered
        .iter()
        .filter(|(id, _)| !stored.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} answered calls have no record: {missing:?}",
        missing.len(),
        answered.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_durability_loses_at_most_the_last_flush_interval() {
    let upstream = FakeUpstream::start().await;
    let dir = temp_dir("kill9-batched");
    let config = write_config(
        &dir,
        &upstream.base_url(),
        "[store]\ndurability = \"batched\"\nflush_interval_ms = 100\n",
    );
    let mut keel = Keel::start(&dir, &config);
    let (answered, killed_at) = load_then_kill(&mut keel, 8, 300).await;
    let records = log_records(&dir, &[]);
    let stored: HashSet<String> = records
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    // Anything answered a flush interval (plus a write's worth of slack)
    // before the kill must be on disk.
    let safe_before = killed_at - Duration::from_millis(100 + 400);
    let lost_old: Vec<_> = answered
        .iter()
        .filter(|(id, at)| *at < safe_before && !stored.contains(id))
        .collect();
    assert!(
        lost_old.is_empty(),
        "records older than the flush interval were lost: {lost_old:?}"
    );
    assert!(stored.len() >= answered.iter().filter(|(_, at)| *at < safe_before).count());
    // No half-written record: every stored one is complete.
    for r in &records {
        assert!(r["status"].as_u64().is_some_and(|s| s > 0), "{r}");
        assert!(r["endpoint"].is_string());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
