//! Group commit: many submitters (MQTT sessions, HTTP requests) hand over readings;
//! one thread writes everything that is waiting in one transaction, then answers
//! every submitter of that batch. A submitter acknowledges its device (PUBACK, 201)
//! only after its answer arrives, so an acknowledged reading is on disk.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::{broadcast, mpsc, oneshot};

use super::{Store, StoreError};
use crate::metrics::Metrics;
use crate::registry::Reading;

/// Why readings were not committed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommitError {
    #[error("store failure: {0}")]
    Store(Arc<StoreError>),
    #[error("the gateway is shutting down")]
    Closed,
}

struct Job {
    readings: Vec<Reading>,
    done: oneshot::Sender<Result<(), CommitError>>,
}

enum Msg {
    Job(Job),
    /// Commit what is queued, then stop.
    Stop,
}

/// Owner's handle on the commit thread.
pub struct CommitThread {
    tx: mpsc::Sender<Msg>,
    handle: JoinHandle<()>,
}

impl CommitThread {
    /// Commit everything submitted so far, then stop the thread; later submissions
    /// fail with [`CommitError::Closed`].
    pub async fn stop(self) {
        let _ = self.tx.send(Msg::Stop).await;
        let handle = self.handle;
        let _ = tokio::task::spawn_blocking(move || handle.join()).await;
    }
}

/// Handle to the commit thread; cheap to clone.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Msg>,
    committed: broadcast::Sender<Arc<Vec<Reading>>>,
}

impl Committer {
    /// Start the commit thread. It stops when told through [`CommitThread::stop`]
    /// or when every handle is dropped, after committing what was submitted.
    pub fn start(
        store: Arc<dyn Store>,
        max_batch: usize,
        metrics: Arc<Metrics>,
    ) -> (Committer, CommitThread) {
        // The queue bounds memory: when it is full, submitters wait (backpressure
        // reaches the devices through their unacknowledged publishes).
        let (tx, rx) = mpsc::channel::<Msg>(8192);
        let (committed, _) = broadcast::channel(1024);
        let out = committed.clone();
        let handle = std::thread::Builder::new()
            .name("steward-commit".into())
            .spawn(move || run(store, rx, max_batch.max(1), metrics, out))
            .expect("spawning the commit thread");
        (
            Committer {
                tx: tx.clone(),
                committed,
            },
            CommitThread { tx, handle },
        )
    }

    /// Commit readings durably; resolves once they are on disk.
    pub async fn commit(&self, readings: Vec<Reading>) -> Result<(), CommitError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Msg::Job(Job { readings, done }))
            .await
            .map_err(|_| CommitError::Closed)?;
        wait.await.map_err(|_| CommitError::Closed)?
    }

    /// Every committed batch, for live streams and fan-out.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Vec<Reading>>> {
        self.committed.subscribe()
    }
}

fn run(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Msg>,
    max_batch: usize,
    metrics: Arc<Metrics>,
    committed: broadcast::Sender<Arc<Vec<Reading>>>,
) {
    let mut jobs: Vec<Job> = Vec::new();
    let mut batch: Vec<Reading> = Vec::new();
    let mut stopping = false;
    while !stopping {
        let mut count = 0;
        match rx.blocking_recv() {
            Some(Msg::Job(job)) => {
                count += job.readings.len();
                jobs.push(job);
            }
            Some(Msg::Stop) | None => stopping = true,
        }
        // Take whatever else is waiting (all of it when stopping).
        while count < max_batch || stopping {
            match rx.try_recv() {
                Ok(Msg::Job(job)) => {
                    count += job.readings.len();
                    jobs.push(job);
                }
                Ok(Msg::Stop) => stopping = true,
                Err(_) => break,
            }
        }
        if jobs.is_empty() {
            continue;
        }
        batch.clear();
        for job in &mut jobs {
            batch.append(&mut job.readings);
        }
        let started = Instant::now();
        let result = store.commit_readings(&batch);
        metrics.observe_commit(batch.len(), started.elapsed());
        let answer = match result {
            Ok(()) => {
                if committed.receiver_count() > 0 {
                    let _ = committed.send(Arc::new(std::mem::take(&mut batch)));
                }
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, readings = batch.len(), "commit failed");
                metrics.error("commit");
                Err(CommitError::Store(Arc::new(e)))
            }
        };
        for job in jobs.drain(..) {
            let _ = job.done.send(answer.clone());
        }
    }
}
