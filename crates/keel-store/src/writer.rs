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

/// Builds the record from a finished call. Runs on the writer's blocking
/// thread, so the assembly, token counting and pricing stay off the
/// request path.
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

    /// Stores one batch. All of it (building the records, encoding the
    /// insert, the metrics, freeing the batch) runs on a blocking-pool
    /// thread: done on the runtime's workers, a batch of a few hundred
    /// records held a worker for a millisecond or more, and the requests
    /// queued behind it waited that long.
    async fn flush(&self, jobs: &mut Vec<Job>) {
        let count = jobs.len();
        let batch = Batch {
            jobs: std::mem::take(jobs),
            store: self.store.clone(),
            observer: self.observer.clone(),
            runtime: tokio::runtime::Handle::current(),
        };
        if let Err(e) = tokio::task::spawn_blocking(move || batch.store()).await {
            tracing::error!(error = %e, "storing a batch of records failed; this batch is lost");
            metrics::counter!("keel_records_lost_total").increment(count as u64);
        }
    }
}

/// One batch of finished calls on its way to the store.
struct Batch {
    jobs: Vec<Job>,
    store: Arc<dyn Store>,
    observer: Option<BatchObserver>,
    /// The store's I/O runs on the runtime, driven from the blocking thread.
    runtime: tokio::runtime::Handle,
}

impl Batch {
    /// Builds, stores and reports the batch, then acknowledges its calls.
    fn store(self) {
        let mut acks = Vec::with_capacity(self.jobs.len());
        let records: Vec<Invocation> = self
            .jobs
            .into_iter()
            .map(|job| {
                acks.extend(job.committed);
                (job.build)().scrubbed()
            })
            .collect();
        let started = Instant::now();
        self.runtime
            .block_on(insert_with_retries(&*self.store, &records));
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

/// Inserts a batch, retrying with backoff; a batch the database keeps
/// refusing is stored row by row, so one bad record cannot stop all the
/// others (the refused ones go to the log in full).
async fn insert_with_retries(store: &dyn Store, records: &[Invocation]) {
    let mut attempt = 0u32;
    loop {
        match store.insert_batch(records).await {
            Ok(()) => return,
            Err(e) if attempt < BATCH_ATTEMPTS => {
                attempt += 1;
                metrics::counter!("keel_writer_errors_total").increment(1);
                tracing::error!(error = %e, attempt, records = records.len(), "storing records failed; retrying");
                let backoff = Duration::from_millis(50u64.saturating_mul(1 << attempt.min(7)));
                tokio::time::sleep(backoff).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "storing a batch keeps failing; storing its records one by one");
                insert_one_by_one(store, records).await;
                return;
            }
        }
    }
}

async fn insert_one_by_one(store: &dyn Store, records: &[Invocation]) {
    for record in records {
        if let Err(e) = store.insert_batch(std::slice::from_ref(record)).await {
            metrics::counter!("keel_records_lost_total").increment(1);
            tracing::error!(error = %e, record = %record.to_json(true), "a record the database refuses; kept here only");
        }
    }
}
