//! The batching writer: one loop that takes finished calls off a bounded
//! queue, builds their records and stores them in batches, off the request
//! path. A full queue applies back-pressure (it is counted, never dropped).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, Notify};

use crate::durability::Durability;
use crate::record::Invocation;
use crate::store::Store;

/// Writer settings.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    pub capacity: usize,
    pub flush_interval: Duration,
    pub max_batch: usize,
    pub durability: Durability,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            capacity: 4096,
            flush_interval: Duration::from_millis(100),
            max_batch: 1024,
            durability: Durability::Batched,
        }
    }
}

/// Failed attempts at a whole batch before it is stored row by row.
const BATCH_ATTEMPTS: u32 = 5;

/// Builds the record from a finished call. Runs on the writer task, so the
/// assembly, token counting and pricing stay off the request path.
pub type RecordBuilder = Box<dyn FnOnce() -> Invocation + Send>;

struct Job {
    build: RecordBuilder,
    committed: Option<oneshot::Sender<()>>,
}

/// The request path's handle to the writer.
#[derive(Clone)]
pub struct RecordSink {
    tx: mpsc::Sender<Job>,
    durability: Durability,
    capacity: usize,
    /// Wakes a sleeping batched writer once the queue is half full.
    filling: Arc<Notify>,
}

impl RecordSink {
    /// Queues a record. In `sync` mode the returned receiver completes once
    /// the record is committed; in `batched` mode there is nothing to await.
    pub async fn submit(&self, build: RecordBuilder) -> Option<oneshot::Receiver<()>> {
        let (committed, done) = match self.durability {
            Durability::Sync => {
                let (tx, rx) = oneshot::channel();
                (Some(tx), Some(rx))
            }
            Durability::Batched => (None, None),
        };
        let job = Job { build, committed };
        let job = match self.tx.try_send(job) {
            Ok(()) => None,
            Err(mpsc::error::TrySendError::Full(job)) => {
                metrics::counter!("keel_writer_queue_full_total").increment(1);
                Some(job)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!("record writer has stopped; a record was not stored");
                metrics::counter!("keel_records_lost_total").increment(1);
                return None;
            }
        };
        if let Some(job) = job {
            if self.tx.send(job).await.is_err() {
                tracing::error!("record writer has stopped; a record was not stored");
                metrics::counter!("keel_records_lost_total").increment(1);
                return None;
            }
        }
        let depth = self.capacity - self.tx.capacity();
        metrics::gauge!("keel_writer_queue_depth").set(depth as f64);
        if depth * 2 >= self.capacity {
            self.filling.notify_one();
        }
        done
    }
}

/// Sees each batch once it is stored; the gateway derives its metrics here,
/// once per batch rather than once per call.
pub type BatchObserver = Arc<dyn Fn(&[Invocation]) + Send + Sync>;

/// Creates the queue; run the returned [`Writer`] on a task of its own.
pub fn channel(
    store: Arc<dyn Store>,
    config: WriterConfig,
    observer: Option<BatchObserver>,
) -> (RecordSink, Writer) {
    let (tx, rx) = mpsc::channel(config.capacity.max(1));
    let filling = Arc::new(Notify::new());
    let sink = RecordSink {
        tx,
        durability: config.durability,
        capacity: config.capacity.max(1),
        filling: filling.clone(),
    };
    (
        sink,
        Writer {
            store,
            rx,
            config,
            observer,
            filling,
        },
    )
}

/// The writer loop's state.
pub struct Writer {
    store: Arc<dyn Store>,
    rx: mpsc::Receiver<Job>,
    config: WriterConfig,
    observer: Option<BatchObserver>,
    filling: Arc<Notify>,
}

impl Writer {
    /// Runs until every [`RecordSink`] is dropped and the queue is empty.
    pub async fn run(mut self) {
        let mut jobs: Vec<Job> = Vec::with_capacity(self.config.max_batch);
        loop {
            if self.rx.recv_many(&mut jobs, self.config.max_batch).await == 0 {
                break;
            }
            if self.config.durability == Durability::Batched {
                // Sleep out the interval (or until the queue fills up) and then
                // take everything queued: one wake-up per flush, not per call.
                let deadline = tokio::time::Instant::now() + self.config.flush_interval;
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => {}
                    _ = self.filling.notified() => {}
                }
                while jobs.len() < self.config.max_batch {
                    match self.rx.try_recv() {
                        Ok(job) => jobs.push(job),
                        Err(_) => break,
                    }
                }
            }
            metrics::gauge!("keel_writer_queue_depth").set(self.rx.len() as f64);
            self.flush(&mut jobs).await;
        }
        tracing::debug!("record writer drained");
    }

    async fn insert_one_by_one(&self, records: &[Invocation]) {
        for record in records {
            if let Err(e) = self.store.insert_batch(std::slice::from_ref(record)).await {
                metrics::counter!("keel_records_lost_total").increment(1);
                tracing::error!(error = %e, record = %record.to_json(true), "a record the database refuses; kept here only");
            }
        }
    }

    async fn flush(&self, jobs: &mut Vec<Job>) {
        let count = jobs.len();
        let mut acks = Vec::with_capacity(count);
        let mut builders = Vec::with_capacity(jobs.len());
        for job in jobs.drain(..) {
            acks.extend(job.committed);
            builders.push(job.build);
        }
        // Building records (assembly, token counts, prices) is CPU work: on
        // the blocking pool it cannot stall the tasks serving requests.
        let records: Vec<Invocation> = match tokio::task::spawn_blocking(move || {
            builders
                .into_iter()
                .map(|build| build().scrubbed())
                .collect()
        })
        .await
        {
            Ok(records) => records,
            Err(e) => {
                tracing::error!(error = %e, "building records failed; this batch is lost");
                metrics::counter!("keel_records_lost_total").increment(count as u64);
                return;
            }
        };
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            match self.store.insert_batch(&records).await {
                Ok(()) => break,
                Err(e) if attempt < BATCH_ATTEMPTS => {
                    attempt += 1;
                    metrics::counter!("keel_writer_errors_total").increment(1);
                    tracing::error!(error = %e, attempt, records = records.len(), "storing records failed; retrying");
                    let backoff = Duration::from_millis(50u64.saturating_mul(1 << attempt.min(7)));
                    tokio::time::sleep(backoff).await;
                }
                Err(e) => {
                    // The database keeps refusing this batch: store what it
                    // takes row by row, so one bad record cannot stop all the
                    // others; the refused ones go to the log in full.
                    tracing::error!(error = %e, "storing a batch keeps failing; storing its records one by one");
                    self.insert_one_by_one(&records).await;
                    break;
                }
            }
        }
        metrics::histogram!("keel_writer_flush_seconds").record(started.elapsed().as_secs_f64());
        metrics::counter!("keel_records_written_total").increment(records.len() as u64);
        if let Some(observe) = &self.observer {
            observe(&records);
        }
        for ack in acks {
            let _ = ack.send(());
        }
    }
}
